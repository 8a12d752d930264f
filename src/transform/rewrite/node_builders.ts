/** Builders for the nodes a rewrite adds: plain TF ops and the fused ops' nodes. */
import * as tf from '@tensorflow/tfjs-core';
import {AttrValue, encodeAttrString, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphRewrite} from '../graph/graph_rewrite';
import {NewWeights} from '../graph/new_weights';

export class NodeFactory {
  constructor(readonly rewrite: GraphRewrite, readonly weights: NewWeights, readonly prefix: string) {}

  name(suffix: string): string {
    return this.rewrite.uniqueName(`${this.prefix}/${suffix}`);
  }

  constant(suffix: string, tensor: tf.Tensor): InputRef {
    const node = this.weights.constNode(this.name(suffix), tensor);
    this.rewrite.add(node);
    return {node: node.name, output: 0, control: false};
  }

  op(suffix: string, op: string, inputs: InputRef[], attr: Record<string, AttrValue> = {}): InputRef {
    const node: NodeDef = {name: this.name(suffix), op, input: inputs.map(formatInputRef), attr};
    this.rewrite.add(node);
    return {node: node.name, output: 0, control: false};
  }

  permute(suffix: string, x: InputRef, perm: number[]): InputRef {
    const p = this.constant(`${suffix}_perm`, tf.tensor1d(perm, 'int32'));
    return this.op(suffix, 'Transpose', [x, p], {T: {type: 'DT_FLOAT'}, Tperm: {type: 'DT_INT32'}});
  }

  /** A head tensor in the fused op's [B, H, S, D] layout. */
  toHeadsFirst(name: string, x: InputRef, layout: 'bhsd' | 'bshd' | 'bhds'): InputRef {
    if (layout === 'bhsd') return x;
    return this.permute(`${name}_${layout}_to_bhsd`, x, layout === 'bshd' ? [0, 2, 1, 3] : [0, 1, 3, 2]);
  }

  mulScalar(suffix: string, x: InputRef, factor: number): InputRef {
    if (factor === 1) return x;
    const c = this.constant(`${suffix}_factor`, tf.scalar(factor));
    return this.op(suffix, 'Mul', [x, c], {T: {type: 'DT_FLOAT'}});
  }

  add(suffix: string, a: InputRef, b: InputRef): InputRef {
    return this.op(suffix, 'AddV2', [a, b], {T: {type: 'DT_FLOAT'}});
  }

  /** A fused node; `inputs` are named so the executor can tell optional ones apart. */
  fused(suffix: string, op: string, inputs: Array<[string, InputRef]>, attr: Record<string, AttrValue>): InputRef {
    return this.op(suffix, op, inputs.map(([, ref]) => ref), {
      ...attr, inputs: encodeAttrString(inputs.map(([name]) => name).join(',')),
    });
  }
}

export function floatAttr(value: number): AttrValue {
  return {f: value};
}

export function intAttr(value: number): AttrValue {
  return {i: String(value)};
}

export function boolAttr(value: boolean): AttrValue {
  return {b: value};
}

export function stringAttr(value: string): AttrValue {
  return encodeAttrString(value);
}
