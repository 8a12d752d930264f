/**
 * sentence-transformers' Pooling (mean over real tokens) and Normalize (L2)
 * modules as tfjs ops. The mask is applied explicitly, so padded rows are
 * ignored whether the encoder computed them (original graph) or zeroed them
 * (fused encoder layers skip padding).
 */
import * as tf from '@tensorflow/tfjs-core';

/** hidden [B, S, H], attentionMask [B, S] (1 = real token) → [B, H] mean of the real tokens' rows. */
export function meanPool(hidden: tf.Tensor3D, attentionMask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, , width] = hidden.shape;
    const mask = tf.cast(attentionMask, 'float32');
    // The masked sum as a batched [1, S]·[S, H] product: on tfjs-backend-cpu a broadcast multiply
    // over [B, S, H] followed by a sum costs more than the whole fused encoder stack.
    const summed = tf.reshape(tf.matMul(tf.expandDims(mask, 1), hidden), [batch, width]);
    const counts = tf.maximum(tf.sum(mask, 1, true), 1e-9);
    return tf.div(summed, counts) as tf.Tensor2D;
  });
}

/** Rows scaled to unit L2 norm (a zero row stays zero), as torch.nn.functional.normalize. */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}
