/**
 * Gradient of FusedScaledDotProductAttention. Where the active backend has
 * the fused backward kernel it recomputes scores tile by tile (no stored score
 * matrix); elsewhere it differentiates the composite implementation.
 *
 * All gradients are computed eagerly here rather than inside the per-input
 * closures: one backward pass yields dq, dk and dv together, and tensors made
 * here belong to tfjs's backward scope, which frees whichever are not used.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeAttention} from '../composite/attention';
import {fusedKernelAvailable} from '../dispatch';
import {FusedScaledDotProductAttention, FusedScaledDotProductAttentionGrad, SdpaAttrs} from '../kernel_names';
import {ensureCoreGradients} from './core_gradients';
import {gradsInsideBackward} from './nested_grads';

function compositeGradients(
    dy: tf.Tensor, q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, attnMask: tf.Tensor, keyPaddingMask: tf.Tensor,
    attrs: SdpaAttrs): tf.Tensor[] {
  const additive = attrs.maskKind === 'additive';
  const f = (...xs: tf.Tensor[]) => compositeAttention({
    q: xs[0], k: xs[1], v: xs[2],
    attnMask: attrs.maskKind === 'none' ? null : (additive ? xs[3] : attnMask),
    keyPaddingMask: attrs.hasKeyPaddingMask ? keyPaddingMask : null,
    ...attrs,
  });
  const xs = additive ? [q, k, v, attnMask] : [q, k, v];
  ensureCoreGradients();
  const grads = gradsInsideBackward(f, xs, dy);
  return additive ? grads : [...grads, tf.zeros(attnMask.shape)];
}

export const sdpaGradConfig: tf.GradConfig = {
  kernelName: FusedScaledDotProductAttention,
  inputsToSave: ['q', 'k', 'v', 'attnMask', 'keyPaddingMask'],
  outputsToSave: [true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [q, k, v, attnMask, keyPaddingMask, out, lse] = saved;
    const a = attrs as SdpaAttrs;
    let dq: tf.Tensor, dk: tf.Tensor, dv: tf.Tensor, dMask: tf.Tensor;
    if (fusedKernelAvailable(FusedScaledDotProductAttentionGrad)) {
      [dq, dk, dv, dMask] = tf.engine().runKernel(
          FusedScaledDotProductAttentionGrad,
          {dy, q, k, v, attnMask, keyPaddingMask, out, lse} as unknown as tf.NamedTensorMap, a) as tf.Tensor[];
      if (a.maskKind !== 'additive') dMask = tf.zeros(attnMask.shape);
    } else {
      [dq, dk, dv, dMask] = compositeGradients(dy, q, k, v, attnMask, keyPaddingMask, a);
    }
    return {
      q: () => dq,
      k: () => dk,
      v: () => dv,
      attnMask: () => dMask,
      // Masks of real/padding tokens are not differentiable.
      keyPaddingMask: () => tf.zeros(keyPaddingMask.shape),
    };
  },
};
