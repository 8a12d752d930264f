/**
 * The public fused encoder stack op: several transformerEncoderLayer calls in
 * one kernel. With a keyPaddingMask the padding is removed once for the whole
 * stack (the native kernels keep the real tokens packed between layers) and
 * padded output rows are 0, as for the single layer.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeEncoderStack} from '../composite/encoder_stack';
import {fusedKernelAvailable, placeholder} from '../dispatch';
import {ENCODER_WEIGHT_INPUTS, FusedTransformerEncoderStack} from '../kernel_names';
import {TransformerEncoderLayerWeights} from './encoder_args';
import {EncoderStackArgs, TransformerEncoderStackOptions, validateEncoderStackArgs} from './encoder_stack_args';

export type {TransformerEncoderStackOptions} from './encoder_stack_args';

const OP = 'transformerEncoderStack';

/** FusedTransformerEncoderStack's input array: x, keyPaddingMask, then each layer's weights in order. */
export function encoderStackKernelInputs(args: EncoderStackArgs): tf.Tensor[] {
  const inputs = [args.x, args.keyPaddingMask ?? placeholder()];
  for (const weights of args.layers) {
    for (const name of ENCODER_WEIGHT_INPUTS) inputs.push(weights[name] ?? placeholder());
  }
  return inputs;
}

export function runFusedEncoderStackKernel(args: EncoderStackArgs): tf.Tensor3D {
  return tf.tidy(() => tf.engine().runKernel(
      FusedTransformerEncoderStack, encoderStackKernelInputs(args) as unknown as tf.NamedTensorMap,
      args.attrs) as tf.Tensor3D);
}

/**
 * Applies `layers` in order to x [B, S, E]; the same options as
 * transformerEncoderLayer, for every layer. Equivalent to a loop of
 * transformerEncoderLayer, but padding is removed once.
 */
export function transformerEncoderStack(
    x: tf.Tensor3D, layers: TransformerEncoderLayerWeights[], options: TransformerEncoderStackOptions): tf.Tensor3D {
  const args = validateEncoderStackArgs(OP, x, layers, options);
  if (fusedKernelAvailable(FusedTransformerEncoderStack)) return runFusedEncoderStackKernel(args);
  return compositeEncoderStack(args.x, args.layers, args.keyPaddingMask, args.layerAttrs);
}
