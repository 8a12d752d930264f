/**
 * Runs TransformerEncoderLayer/Stack: the dispatcher's choice, except that
 * on `tensorflow` the T5-class forms run the composite while the op library's
 * encoder ops do not take them (OP_LIBRARY_TAKES_T5_ENCODER_INPUTS).
 */
import * as tf from '@tensorflow/tfjs-core';
import {OP_LIBRARY_TAKES_T5_ENCODER_INPUTS} from '../backends/tensorflow/encoder_op_inputs';
import {compositeOf} from '../dispatch/composite_registry';
import {fusedKernelAvailable, runOpResult} from '../dispatch/dispatch';
import {ENCODER_PACKED_QKV_INPUTS, ENCODER_SEPARATE_QKV_INPUTS} from '../op_table';

/** The optional inputs every layer gave before T5-class forms (besides the QKV form's biases). */
const LEGACY_REQUIRED = ['outBias', 'ln1Beta', 'ln2Beta', 'ffnInBias', 'ffnOutBias'];

/**
 * Whether a layer of these attributes and weights (the given ones, by input
 * name) uses a form added for T5-class encoders.
 */
export function usesT5EncoderForm(
    attrs: {normKind: string; gatedMlp: boolean; hasAttentionBias: boolean; packedQkv: boolean},
    weights: Record<string, tf.Tensor>): boolean {
  if (attrs.normKind !== 'layer' || attrs.gatedMlp || attrs.hasAttentionBias) return true;
  const qkvBiases = attrs.packedQkv ? [ENCODER_PACKED_QKV_INPUTS[1]] : ENCODER_SEPARATE_QKV_INPUTS.slice(3);
  return [...qkvBiases, ...LEGACY_REQUIRED].some(name => weights[name] == null);
}

export function runEncoderOp(op: 'TransformerEncoderLayer' | 'TransformerEncoderStack',
    inputs: tf.NamedTensorMap | tf.Tensor[], attrs: tf.NamedAttrMap, t5Form: boolean): tf.Tensor3D {
  if (t5Form && !OP_LIBRARY_TAKES_T5_ENCODER_INPUTS && tf.getBackend() === 'tensorflow' && fusedKernelAvailable(op)) {
    return compositeOf(op)(inputs as tf.NamedTensorMap, attrs) as tf.Tensor3D;
  }
  return runOpResult<tf.Tensor3D>(op, inputs, attrs);
}
