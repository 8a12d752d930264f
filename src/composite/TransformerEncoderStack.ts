/**
 * TransformerEncoderStack as a loop of the composite encoder layer: the
 * fallback on backends without the fused stack and what its gradient
 * differentiates.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {
  ENCODER_STACK_ATTENTION_BIAS_INPUT, ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, ENCODER_WEIGHT_INPUTS, EncoderStackAttrs,
  encoderStackInputIndex, encoderStackLayerAttrs,
} from '../op_table';
import {encoderLayerOf} from './TransformerEncoderLayer';

export const compositeTransformerEncoderStack: CompositeFunc = (inputs, attrs) => {
  const a = attrs as unknown as EncoderStackAttrs;
  const keyPaddingMask = a.hasKeyPaddingMask ? inputs[ENCODER_STACK_KEY_PADDING_INPUT] : null;
  const attentionBias = a.hasAttentionBias ? inputs[ENCODER_STACK_ATTENTION_BIAS_INPUT] : null;
  return tf.tidy(() => {
    let y = inputs[ENCODER_STACK_X_INPUT];
    for (let l = 0; l < a.numLayers; l++) {
      const weights: tf.NamedTensorMap = {};
      for (const name of ENCODER_WEIGHT_INPUTS) weights[name] = inputs[encoderStackInputIndex(l, name)];
      y = encoderLayerOf(y, weights, keyPaddingMask, encoderStackLayerAttrs(a, l), attentionBias);
    }
    return y;
  });
};
