/**
 * Gradient of FusedTransformerEncoderStack: the stack is recomputed as a loop
 * of the composite encoder layer (attention stays fused) and differentiated
 * by tfjs, as for the single layer's gradient.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeEncoderStack} from '../composite/encoder_stack';
import {
  ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, ENCODER_WEIGHT_INPUTS, EncoderStackAttrs,
  encoderStackInputIndex, encoderStackLayerAttrs, FusedTransformerEncoderStack,
} from '../kernel_names';
import {ensureCoreGradients} from './core_gradients';
import {gradsInsideBackward} from './nested_grads';

const SEPARATE_QKV = /^[qkv](Weight|Bias)$/;
const PACKED_QKV = /^qkv/;

export const encoderStackGradConfig: tf.GradConfig = {
  kernelName: FusedTransformerEncoderStack,
  saveAllInputs: true,
  gradFunc: (dy, saved, attrs) => {
    const a = attrs as unknown as EncoderStackAttrs;
    const layerAttrs = Array.from({length: a.numLayers}, (_, l) => encoderStackLayerAttrs(a, l));
    // Differentiable inputs: x and every weight of the QKV form each layer uses.
    const differentiable = [ENCODER_STACK_X_INPUT];
    layerAttrs.forEach((la, l) => {
      for (const name of ENCODER_WEIGHT_INPUTS) {
        if (!(la.packedQkv ? SEPARATE_QKV : PACKED_QKV).test(name)) differentiable.push(encoderStackInputIndex(l, name));
      }
    });
    const keyPaddingMask = a.hasKeyPaddingMask ? saved[ENCODER_STACK_KEY_PADDING_INPUT] : null;
    const f = (...xs: tf.Tensor[]) => {
      const byIndex = new Map(differentiable.map((index, i) => [index, xs[i]]));
      const layers = layerAttrs.map((_, l) => {
        const weights: Record<string, tf.Tensor> = {};
        for (const name of ENCODER_WEIGHT_INPUTS) {
          const t = byIndex.get(encoderStackInputIndex(l, name));
          if (t) weights[name] = t;
        }
        return weights;
      });
      return compositeEncoderStack(byIndex.get(ENCODER_STACK_X_INPUT)!, layers, keyPaddingMask, layerAttrs);
    };
    ensureCoreGradients();
    const grads = gradsInsideBackward(f, differentiable.map(index => saved[index]), dy as tf.Tensor);
    const result: {[index: string]: () => tf.Tensor} = {};
    saved.forEach((t, index) => {
      const i = differentiable.indexOf(index);
      const grad = i >= 0 ? grads[i] : tf.zeros(t.shape);
      result[index] = () => grad;
    });
    return result;
  },
};
