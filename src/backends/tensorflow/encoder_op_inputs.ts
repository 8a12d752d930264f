/**
 * The input lists of the op library's BtTransformerEncoderLayer/Stack ops,
 * built from the tfjs kernels' inputs (ENCODER_KERNEL_INPUTS, the stack's list).
 *
 * T5-class forms (RMSNorm, a gated MLP, absent biases or betas, an attention
 * bias) need the ops' newer inputs: gate_weight and gate_bias after each
 * layer's 18 weights, attention_bias after key_padding_mask, and the
 * norm_kind / gated_mlp / has_attention_bias attributes. Until the op library
 * takes them, OP_LIBRARY_TAKES_T5_ENCODER_INPUTS is false and those forms run
 * the composite on `tensorflow` (src/ops/encoder_dispatch.ts): the older ops
 * are never given inputs they would misread.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {ENCODER_WEIGHT_INPUTS} from '../../op_table';

export const OP_LIBRARY_TAKES_T5_ENCODER_INPUTS = false;

/** The weights the op library's layer took before the T5-class inputs (the first 18 of ENCODER_WEIGHT_INPUTS). */
const LEGACY_WEIGHT_COUNT = ENCODER_WEIGHT_INPUTS.indexOf('gateWeight');

/** One layer's weight inputs, in ENCODER_WEIGHT_INPUTS order, as the op library takes them. */
export function opLibraryLayerWeights(weights: TensorInfo[]): TensorInfo[] {
  return OP_LIBRARY_TAKES_T5_ENCODER_INPUTS ? weights : weights.slice(0, LEGACY_WEIGHT_COUNT);
}
