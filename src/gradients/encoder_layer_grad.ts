/**
 * Gradient of FusedTransformerEncoderLayer: the layer is recomputed as the
 * composite of tfjs ops (whose attention is the fused op with its own
 * recompute-based backward) and differentiated by tfjs. This keeps training
 * possible through fused layers; inference never pays for it.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeEncoderLayer} from '../composite/encoder_layer';
import {ENCODER_KERNEL_INPUTS, EncoderLayerAttrs, FusedTransformerEncoderLayer} from '../kernel_names';

import {ensureCoreGradients} from './core_gradients';
import {gradsInsideBackward} from './nested_grads';

export const encoderLayerGradConfig: tf.GradConfig = {
  kernelName: FusedTransformerEncoderLayer,
  inputsToSave: [...ENCODER_KERNEL_INPUTS],
  gradFunc: (dy, saved, attrs) => {
    const a = attrs as EncoderLayerAttrs;
    const byName: Record<string, tf.Tensor> = {};
    ENCODER_KERNEL_INPUTS.forEach((name, i) => byName[name] = saved[i]);
    // Differentiable inputs: x and every real (non-placeholder) weight.
    const names = ENCODER_KERNEL_INPUTS.filter(
        name => name !== 'keyPaddingMask' && byName[name].size > 0 &&
                (name === 'x' || !(a.packedQkv ? /^[qkv](Weight|Bias)$/ : /^qkv/).test(name)));
    const keyPaddingMask = a.hasKeyPaddingMask ? byName.keyPaddingMask : null;
    const f = (...xs: tf.Tensor[]) => {
      const weights: Record<string, tf.Tensor> = {};
      names.forEach((name, i) => weights[name] = xs[i]);
      return compositeEncoderLayer(weights.x, weights, keyPaddingMask, a);
    };
    ensureCoreGradients();
    const grads = gradsInsideBackward(f, names.map(name => byName[name]), dy as tf.Tensor);
    const result: {[name: string]: () => tf.Tensor} = {};
    for (const name of ENCODER_KERNEL_INPUTS) {
      const i = names.indexOf(name);
      const grad = i >= 0 ? grads[i] : tf.zeros(byName[name].shape);
      result[name] = () => grad;
    }
    return result;
  },
};
