/**
 * Keras' masked attention on the fused op. The mask goes in as a boolean
 * (nonzero = may attend), which hides masked keys exactly; a query row with no
 * visible key, which the fused op returns as zeros, gets what Keras' -1e9 term
 * gives it instead: the uniform average of every value row.
 */
import * as tf from '@tensorflow/tfjs-core';
import {scaledDotProductAttention} from '../ops/scaled_dot_product_attention';
import {expandMaskToScores} from './keras_attention_mask';

/** q [B, H, T, D], k [B, H, S, D], v [B, H, S, Dv]; mask broadcastable to [B, T, S] (Keras' combined mask). */
export function fusedKerasAttention(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, mask: tf.Tensor, scale: number):
    tf.Tensor4D {
  return tf.tidy(() => {
    const visible = expandMaskToScores(tf.cast(mask, 'bool'));
    const attended = scaledDotProductAttention(q, k, v, {scale, attnMask: visible});
    const shape = attended.shape;
    const rowHasKey = tf.broadcastTo(tf.any(visible, -1, true), shape);
    const uniform = tf.broadcastTo(tf.mean(v, 2, true), shape);
    return tf.where(rowHasKey, attended, uniform) as tf.Tensor4D;
  });
}
