/**
 * Comparing an original and a transformed model's outputs. The fused encoder
 * layer skips padded tokens (their rows are 0, as with PyTorch's nested
 * tensors), so [B, S, ...] outputs are compared on real tokens only.
 */
import * as tf from '@tensorflow/tfjs-core';

/** max |a − b| / max |a| over the compared elements (Infinity for a shape mismatch or NaN). */
export function maxRelativeDifference(a: tf.Tensor, b: tf.Tensor, validTokens: number[][] | null): number {
  if (a.shape.join(',') !== b.shape.join(',')) return Infinity;
  return tf.tidy(() => {
    let diff = tf.abs(tf.sub(tf.cast(a, 'float32'), tf.cast(b, 'float32')));
    let ref = tf.abs(tf.cast(a, 'float32'));
    if (validTokens && a.rank >= 2 && a.shape[0] === validTokens.length && a.shape[1] === validTokens[0].length) {
      const mask = tf.reshape(tf.tensor2d(validTokens), [a.shape[0], a.shape[1], ...new Array(a.rank - 2).fill(1)]);
      diff = tf.mul(diff, mask);
      ref = tf.mul(ref, mask);
    }
    const d = tf.max(diff).dataSync()[0];
    if (Number.isNaN(d)) return Infinity;
    return d / Math.max(tf.max(ref).dataSync()[0], 1e-12);
  });
}
