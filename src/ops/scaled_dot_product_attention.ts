/**
 * The public attention op. Semantics (shared by every implementation):
 * - q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv], float32; H % Hkv == 0
 *   and query head h reads key/value head floor(h / (H / Hkv)).
 * - scores = scale · q·kᵀ (scale defaults to 1/sqrt(D)), then masks:
 *   attnMask bool (true = attend) or float32 (added), broadcast to [B, H, Sq, Sk];
 *   keyPaddingMask [B, Sk] (nonzero = real key); isCausal bottom-right aligned
 *   (query i sees key j iff j <= i + Sk - Sq).
 * - softmax over keys, times v. A query row with no visible key returns zeros.
 * - B, Sq, Sk and Dv may be 0; H, Hkv and D must be at least 1.
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {ScaledDotProductAttentionOptions, validateAttentionArgs} from './attention_args';

export type {ScaledDotProductAttentionOptions} from './attention_args';

export function scaledDotProductAttention(
    q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options: ScaledDotProductAttentionOptions = {}): tf.Tensor4D {
  const args = validateAttentionArgs('scaledDotProductAttention', q, k, v, options);
  return tf.tidy(() => runOpResult<tf.Tensor4D>('ScaledDotProductAttention', {
    q: args.q, k: args.k, v: args.v,
    attnMask: args.attnMask ?? placeholder(),
    keyPaddingMask: args.keyPaddingMask ?? placeholder(),
  }, args.attrs));
}
