/**
 * Gradient of ScaledDotProductAttention (the table's `gradient: kernel`).
 * Where the active backend has the ScaledDotProductAttentionGrad kernel it
 * recomputes scores tile by tile from the saved log-sum-exp (no stored score
 * matrix); elsewhere the composite is differentiated.
 *
 * All gradients are computed eagerly here rather than inside the per-input
 * closures: one backward pass yields dq, dk and dv together, and tensors made
 * here belong to tfjs's backward scope, which frees whichever are not used.
 */
import * as tf from '@tensorflow/tfjs-core';
import {fusedKernelAvailable} from '../dispatch/dispatch';
import {ATTENTION_INPUTS, kernelName, SdpaAttrs} from '../op_table';
import {compositeGradients} from './composite_gradient';

export const scaledDotProductAttentionGradConfig: tf.GradConfig = {
  kernelName: kernelName('ScaledDotProductAttention'),
  inputsToSave: [...ATTENTION_INPUTS],
  outputsToSave: [true, true],
  gradFunc: (dys, saved, attrs) => {
    const dy = Array.isArray(dys) ? dys[0] : dys;
    const [q, k, v, attnMask, keyPaddingMask, out, lse] = saved;
    const a = attrs as SdpaAttrs;
    let dq: tf.Tensor, dk: tf.Tensor, dv: tf.Tensor, dMask: tf.Tensor;
    if (fusedKernelAvailable('ScaledDotProductAttentionGrad')) {
      [dq, dk, dv, dMask] = tf.engine().runKernel(
          kernelName('ScaledDotProductAttentionGrad'),
          {dy, q, k, v, attnMask, keyPaddingMask, out, lse} as unknown as tf.NamedTensorMap, a) as tf.Tensor[];
      if (a.maskKind !== 'additive') dMask = tf.zeros(attnMask.shape);
    } else {
      [dq, dk, dv, dMask] = compositeGradients('ScaledDotProductAttention', dy, [q, k, v, attnMask, keyPaddingMask], a);
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
