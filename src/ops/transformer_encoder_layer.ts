/**
 * The public fused encoder layer op. See TransformerEncoderLayerOptions and
 * TransformerEncoderLayerWeights for the semantics. With a keyPaddingMask,
 * padded positions are skipped (not computed) and their output rows are 0,
 * as in PyTorch's nested-tensor fast path; pool with the same mask.
 */
import * as tf from '@tensorflow/tfjs-core';
import {compositeEncoderLayer} from '../composite/encoder_layer';
import {fusedKernelAvailable, placeholder} from '../dispatch';
import {ENCODER_KERNEL_INPUTS, FusedTransformerEncoderLayer} from '../kernel_names';
import {EncoderArgs, TransformerEncoderLayerOptions, TransformerEncoderLayerWeights, validateEncoderArgs} from './encoder_args';

export type {TransformerEncoderLayerOptions, TransformerEncoderLayerWeights} from './encoder_args';

const OP = 'transformerEncoderLayer';

export function runFusedEncoderKernel(args: EncoderArgs): tf.Tensor3D {
  return tf.tidy(() => {
    const inputs: Record<string, tf.Tensor> = {};
    for (const name of ENCODER_KERNEL_INPUTS) {
      inputs[name] = name === 'x' ? args.x :
          name === 'keyPaddingMask' ? (args.keyPaddingMask ?? placeholder()) :
                                      (args.weights[name] ?? placeholder());
    }
    return tf.engine().runKernel(FusedTransformerEncoderLayer, inputs, args.attrs) as tf.Tensor3D;
  });
}

export function transformerEncoderLayer(
    x: tf.Tensor3D, weights: TransformerEncoderLayerWeights, options: TransformerEncoderLayerOptions): tf.Tensor3D {
  const args = validateEncoderArgs(OP, x, weights, options);
  if (fusedKernelAvailable(FusedTransformerEncoderLayer)) return runFusedEncoderKernel(args);
  return compositeEncoderLayer(args.x, args.weights, args.keyPaddingMask, args.attrs);
}
