/**
 * The public fused encoder stack op: several transformerEncoderLayer calls in
 * one kernel. With a keyPaddingMask the padding is removed once for the whole
 * stack (the native kernels keep the real tokens packed between layers) and
 * padded output rows are 0, as for the single layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {ENCODER_WEIGHT_INPUTS} from '../op_table';
import {TransformerEncoderLayerWeights} from './encoder_args';
import {TransformerEncoderStackOptions, validateEncoderStackArgs} from './encoder_stack_args';

export type {TransformerEncoderStackOptions} from './encoder_stack_args';

/**
 * Applies `layers` in order to x [B, S, E]; the same options as
 * transformerEncoderLayer, for every layer (one attentionBias, added in every
 * layer: T5's relative position bias, computed once per forward). Equivalent to
 * a loop of transformerEncoderLayer, but padding is removed once.
 */
export function transformerEncoderStack(
    x: tf.Tensor3D, layers: TransformerEncoderLayerWeights[], options: TransformerEncoderStackOptions): tf.Tensor3D {
  const args = validateEncoderStackArgs('transformerEncoderStack', x, layers, options);
  return tf.tidy(() => {
    // The kernel's input list: x, keyPaddingMask, attentionBias, then each layer's weights in order.
    // One placeholder for every absent input: a T5 stack has about 70 (no biases, no betas), and a
    // tensor each was a measurable part of a short call.
    const absent = placeholder();
    const inputs = [args.x, args.keyPaddingMask ?? absent, args.attentionBias ?? absent];
    for (const weights of args.layers) {
      for (const name of ENCODER_WEIGHT_INPUTS) inputs.push(weights[name] ?? absent);
    }
    return runOpResult<tf.Tensor3D>('TransformerEncoderStack', inputs, args.attrs);
  });
}
