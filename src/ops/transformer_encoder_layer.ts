/**
 * The public fused encoder layer op. See TransformerEncoderLayerOptions and
 * TransformerEncoderLayerWeights for the semantics. With a keyPaddingMask,
 * padded positions are skipped (not computed) and their output rows are 0,
 * as in PyTorch's nested-tensor fast path; pool with the same mask. T5-class
 * layers: options.normKind 'rms', a gated MLP (weights.gateWeight), no biases,
 * and options.attentionBias (the relative position bias, [1 or B, H, S, S]).
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {ENCODER_KERNEL_INPUTS} from '../op_table';
import {TransformerEncoderLayerOptions, TransformerEncoderLayerWeights, validateEncoderArgs} from './encoder_args';

export type {TransformerEncoderLayerOptions, TransformerEncoderLayerWeights} from './encoder_args';

export function transformerEncoderLayer(
    x: tf.Tensor3D, weights: TransformerEncoderLayerWeights, options: TransformerEncoderLayerOptions): tf.Tensor3D {
  const args = validateEncoderArgs('transformerEncoderLayer', x, weights, options);
  return tf.tidy(() => {
    const inputs: tf.NamedTensorMap = {};
    const absent = placeholder();  // one for every absent input
    for (const name of ENCODER_KERNEL_INPUTS) {
      inputs[name] = name === 'x' ? args.x :
          name === 'keyPaddingMask' ? (args.keyPaddingMask ?? absent) :
          name === 'attentionBias' ? (args.attentionBias ?? absent) : (args.weights[name] ?? absent);
    }
    return runOpResult<tf.Tensor3D>('TransformerEncoderLayer', inputs, args.attrs);
  });
}
