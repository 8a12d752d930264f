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
import {compositeAttention} from '../composite/attention';
import {fusedKernelAvailable, placeholder} from '../dispatch';
import {FusedScaledDotProductAttention} from '../kernel_names';
import {AttentionArgs, ScaledDotProductAttentionOptions, validateAttentionArgs} from './attention_args';

export type {ScaledDotProductAttentionOptions} from './attention_args';

const OP = 'scaledDotProductAttention';

export function runFusedAttentionKernel(args: AttentionArgs): tf.Tensor4D {
  return tf.tidy(() => {
    const inputs = {
      q: args.q, k: args.k, v: args.v,
      attnMask: args.attnMask ?? placeholder(),
      keyPaddingMask: args.keyPaddingMask ?? placeholder(),
    };
    // The second output (log-sum-exp) is only for the gradient, which saves
    // its own reference; tidy disposes the one returned here.
    const [out] = tf.engine().runKernel(
        FusedScaledDotProductAttention, inputs as unknown as tf.NamedTensorMap,
        args.attrs) as tf.Tensor[];
    return out as tf.Tensor4D;
  });
}

export function scaledDotProductAttention(
    q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options: ScaledDotProductAttentionOptions = {}): tf.Tensor4D {
  const args = validateAttentionArgs(OP, q, k, v, options);
  if (fusedKernelAvailable(FusedScaledDotProductAttention)) return runFusedAttentionKernel(args);
  return compositeAttention({
    q: args.q, k: args.k, v: args.v, attnMask: args.attnMask, keyPaddingMask: args.keyPaddingMask,
    ...args.attrs,
  });
}
