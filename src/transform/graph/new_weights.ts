/**
 * Constants the rewrite adds (transposed, concatenated or folded weights and
 * small scalars): Const nodes in the GraphDef, their tensors for the executor,
 * and their bytes appended after the original weight data so the rewritten
 * model saves and reloads like any converted model.
 */
import * as tf from '@tensorflow/tfjs-core';
import {NodeDef} from './graph_def';

export interface AddedConstant {
  node: NodeDef;
  tensor: tf.Tensor;
}

const GRAPH_DTYPE: Record<string, string> = {float32: 'DT_FLOAT', int32: 'DT_INT32'};

export class NewWeights {
  readonly constants: AddedConstant[] = [];

  constNode(name: string, tensor: tf.Tensor): NodeDef {
    const dtype = GRAPH_DTYPE[tensor.dtype];
    if (!dtype) throw new Error(`graph rewrite: cannot store a ${tensor.dtype} constant`);
    const node: NodeDef = {
      name, op: 'Const',
      attr: {
        dtype: {type: dtype},
        value: {tensor: {dtype, tensorShape: {dim: tensor.shape.map(size => ({size: String(size)}))}}},
      },
    };
    this.constants.push({node, tensor});
    return node;
  }

  specs(): tf.io.WeightsManifestEntry[] {
    return this.constants.map(({node, tensor}) => ({name: node.name, shape: tensor.shape.slice(), dtype: tensor.dtype as 'float32' | 'int32'}));
  }

  bytes(): ArrayBuffer {
    const parts = this.constants.map(({tensor}) => {
      const data = tensor.dataSync() as Float32Array | Int32Array;
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    });
    const total = parts.reduce((n, p) => n + p.byteLength, 0);
    const out = new Uint8Array(total);
    let offset = 0;
    for (const p of parts) {
      out.set(p, offset);
      offset += p.byteLength;
    }
    return out.buffer;
  }

  dispose(): void {
    for (const {tensor} of this.constants) tensor.dispose();
    this.constants.length = 0;
  }
}
