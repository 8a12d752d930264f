/**
 * Rotary position embedding as plain tfjs ops: the tables' rows at each
 * token's position, then (a·cos − b·sin, b·cos + a·sin) on the rotate-half or
 * interleaved pairs of the first rotaryDim features.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {RotaryEmbeddingAttrs} from '../op_table';

/** x [B, H, S, D]; positions [B, S] int32; cos, sin [P, rotaryDim / 2]. */
export function rotaryOf(x: tf.Tensor, positions: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor, rotaryDim: number,
    interleaved: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [batch, heads, seq, depth] = x.shape as number[];
    const half = rotaryDim / 2;
    if (half === 0 || batch * heads * seq * depth === 0) return tf.clone(x);
    // [B, S, half] -> [B, 1, S, half]: one row per token, shared by the heads.
    const at = (table: tf.Tensor) => tf.expandDims(tf.reshape(tf.gather(table, tf.reshape(positions, [-1])), [batch, seq, half]), 1);
    const c = at(cos), s = at(sin);
    const rotated = tf.slice(x, [0, 0, 0, 0], [batch, heads, seq, rotaryDim]);
    let y: tf.Tensor;
    if (interleaved) {
      const pairs = tf.reshape(rotated, [batch, heads, seq, half, 2]);
      const a = tf.squeeze(tf.slice(pairs, [0, 0, 0, 0, 0], [batch, heads, seq, half, 1]), [4]);
      const b = tf.squeeze(tf.slice(pairs, [0, 0, 0, 0, 1], [batch, heads, seq, half, 1]), [4]);
      y = tf.reshape(tf.stack([tf.sub(tf.mul(a, c), tf.mul(b, s)), tf.add(tf.mul(b, c), tf.mul(a, s))], 4),
          [batch, heads, seq, rotaryDim]);
    } else {
      const a = tf.slice(rotated, [0, 0, 0, 0], [batch, heads, seq, half]);
      const b = tf.slice(rotated, [0, 0, 0, half], [batch, heads, seq, half]);
      y = tf.concat([tf.sub(tf.mul(a, c), tf.mul(b, s)), tf.add(tf.mul(b, c), tf.mul(a, s))], 3);
    }
    if (rotaryDim === depth) return y;
    return tf.concat([y, tf.slice(x, [0, 0, 0, rotaryDim], [batch, heads, seq, depth - rotaryDim])], 3);
  });
}

export const compositeRotaryEmbedding: CompositeFunc = (inputs, attrs) => {
  const a = attrs as RotaryEmbeddingAttrs;
  return rotaryOf(inputs.x, inputs.positions, inputs.cos, inputs.sin, a.rotaryDim, a.interleaved);
};
