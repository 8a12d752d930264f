/**
 * Evaluates an elementwise tree (see elementwise_tree.ts) with tfjs ops, for
 * a test value of its input and the model's constants. Used only at transform
 * time, to check that a matched LayerNorm or activation computes what the
 * fused op will.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {attrBool, formatInputRef, InputRef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {ElementwiseTree} from './elementwise_tree';

export function evaluateTree(
    view: GraphView, consts: ConstantValues, tree: ElementwiseTree, inputs: Map<string, tf.Tensor>): tf.Tensor | null {
  try {
    return tf.tidy(() => evaluate(view, consts, tree, inputs));
  } catch {
    return null;
  }
}

function evaluate(view: GraphView, consts: ConstantValues, tree: ElementwiseTree, inputs: Map<string, tf.Tensor>): tf.Tensor {
  {
    const memo = new Map<string, tf.Tensor>();
    const inTree = new Set(tree.nodes.map(n => n.name));
    const value = (raw: InputRef): tf.Tensor => {
      const ref = view.resolve(raw).ref;
      const key = formatInputRef(ref);
      const given = inputs.get(key);
      if (given) return given;
      const cached = memo.get(key);
      if (cached) return cached;
      let out: tf.Tensor;
      if (consts.isConst(ref)) {
        const c = consts.value(ref);
        if (!c) throw new Error(`unknown constant '${key}'`);
        out = tf.tensor(c.data, c.shape, c.dtype === 'int32' ? 'int32' : 'float32');
      } else {
        const node = view.node(ref.node);
        if (!node || !inTree.has(node.name)) throw new Error(`'${key}' is outside the tree`);
        const args = view.dataInputs(node).map(value);
        out = apply(node.op, args, node, consts, view);
      }
      memo.set(key, out);
      return out;
    };
    return value(tree.root);
  }
}

function apply(op: string, a: tf.Tensor[], node: {attr?: Record<string, unknown>}, consts: ConstantValues, view: GraphView): tf.Tensor {
  const f = (t: tf.Tensor) => (t.dtype === 'float32' ? t : tf.cast(t, 'float32'));
  switch (op) {
    case 'Add': case 'AddV2': return tf.add(f(a[0]), f(a[1]));
    case 'Sub': return tf.sub(f(a[0]), f(a[1]));
    case 'Mul': return tf.mul(f(a[0]), f(a[1]));
    case 'RealDiv': case 'Div': return tf.div(f(a[0]), f(a[1]));
    case 'Neg': return tf.neg(a[0]);
    case 'Rsqrt': return tf.rsqrt(a[0]);
    case 'Sqrt': return tf.sqrt(a[0]);
    case 'Square': return tf.square(a[0]);
    case 'Pow': return tf.pow(f(a[0]), f(a[1]));
    case 'Reciprocal': return tf.reciprocal(a[0]);
    case 'Erf': return tf.erf(a[0]);
    case 'Tanh': return tf.tanh(a[0]);
    case 'Sigmoid': return tf.sigmoid(a[0]);
    case 'Relu': return tf.relu(a[0]);
    case 'Maximum': return tf.maximum(f(a[0]), f(a[1]));
    case 'Minimum': return tf.minimum(f(a[0]), f(a[1]));
    case 'SquaredDifference': return tf.squaredDifference(f(a[0]), f(a[1]));
    case 'Identity': case 'StopGradient': return a[0];
    case 'Mean': {
      const axes = Array.from(a[1].dataSync(), Number);
      return tf.mean(a[0], axes, attrBool(node as never, 'keep_dims'));
    }
    default:
      void consts; void view;
      throw new Error(`cannot evaluate ${op}`);
  }
}

/** max |a - b| / (max |b| + 1e-6) */
export function relativeError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => {
    const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0];
    const scale = tf.max(tf.abs(b)).dataSync()[0];
    return diff / (scale + 1e-6);
  });
}

/** max over elements of |a − b| / max(|b|, 1) */
export function elementwiseError(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.div(tf.abs(tf.sub(a, b)), tf.maximum(tf.abs(b), 1))).dataSync()[0]);
}
