/**
 * Reading a converted graph's weights for a fused op, in place: the float32
 * tensor behind a constant, as a [rows, cols] matrix or an [n] vector —
 * itself, or a reshaped view of its data (never a copy), kept in `owned` so
 * the generator disposes the views with itself. Shared by the decoder-only and
 * encoder–decoder builders.
 */
import * as tf from '@tensorflow/tfjs-core';
import {InputRef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';

export interface GraphWeightReaders {
  constant(ref: InputRef): tf.Tensor;
  matrix(ref: InputRef, rows: number, cols: number): tf.Tensor2D;
  /** Undefined for an absent (null) reference. */
  vector(ref: InputRef | null, n: number): tf.Tensor1D | undefined;
}

export function graphWeightReaders(view: GraphView, weightMap: Record<string, tf.Tensor[]>, owned: tf.Tensor[]): GraphWeightReaders {
  const constant = (ref: InputRef): tf.Tensor => {
    const node = view.resolve(ref).node;
    const t = node ? weightMap[node.name]?.[0] : undefined;
    if (!t) throw new Error(`the weight '${ref.node}' is not loaded`);
    if (t.dtype !== 'float32') throw new Error(`the weight '${ref.node}' is ${t.dtype}, not float32`);
    return t;
  };
  const matrix = (ref: InputRef, rows: number, cols: number): tf.Tensor2D => {
    const t = constant(ref);
    if (t.shape.length === 2 && t.shape[0] === rows && t.shape[1] === cols) return t as tf.Tensor2D;
    if (t.size !== rows * cols) throw new Error(`the weight '${ref.node}' [${t.shape.join(', ')}] is not [${rows}, ${cols}]`);
    const v = tf.reshape(t, [rows, cols]) as tf.Tensor2D;
    owned.push(v);
    return v;
  };
  const vector = (ref: InputRef | null, n: number): tf.Tensor1D | undefined => {
    if (!ref) return undefined;
    const t = constant(ref);
    if (t.size !== n) throw new Error(`the vector '${ref.node}' has ${t.size} elements, not ${n}`);
    if (t.rank === 1) return t as tf.Tensor1D;
    const v = tf.reshape(t, [n]) as tf.Tensor1D;
    owned.push(v);
    return v;
  };
  return {constant, matrix, vector};
}
