/**
 * TransformerEncoderStack on tfjs-node (`tensorflow`): one call of the op
 * library's TensorFlow op of the same name, whose `weights` input is the list of
 * every layer's weight inputs (20, or the first 18 while the op library predates
 * the T5-class inputs: encoder_op_inputs.ts; the core keeps the tokens packed
 * between layers).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {
  ENCODER_STACK_ATTENTION_BIAS_INPUT, ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, ENCODER_WEIGHT_INPUTS,
  EncoderStackAttrs, encoderStackInputIndex, kernelName, opNames,
} from '../../../op_table';
import {OP_LIBRARY_TAKES_T5_ENCODER_INPUTS, opLibraryLayerWeights} from '../encoder_op_inputs';
import {asNodeBackend, OpAttrs} from '../node_backend';

const transformerEncoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as EncoderStackAttrs;
  const all = Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map(key => inputs[key] as TensorInfo);
  const perLayer = ENCODER_WEIGHT_INPUTS.length;
  const weights = Array.from({length: a.numLayers}, (_, l) => opLibraryLayerWeights(
      all.slice(encoderStackInputIndex(l, ENCODER_WEIGHT_INPUTS[0]), encoderStackInputIndex(l, ENCODER_WEIGHT_INPUTS[0]) + perLayer)))
      .flat();
  const keyPadding = all[ENCODER_STACK_KEY_PADDING_INPUT];
  const builder = new OpAttrs(nb)
      .int('N', weights.length).dtype('Tpad', keyPadding.dtype)
      .int('num_layers', a.numLayers).int('num_heads', a.numHeads).bool('norm_first', a.normFirst)
      .string('activation', a.activation).floats('eps1', a.layerNormEps1).floats('eps2', a.layerNormEps2)
      .bool('is_causal', a.isCausal).float('scale', a.scale).bools('packed_qkv', a.packedQkv)
      .bool('has_key_padding_mask', a.hasKeyPaddingMask);
  if (OP_LIBRARY_TAKES_T5_ENCODER_INPUTS) {
    builder.string('norm_kind', a.normKind).bool('gated_mlp', a.gatedMlp).bool('has_attention_bias', a.hasAttentionBias);
  }
  const leading = OP_LIBRARY_TAKES_T5_ENCODER_INPUTS ?
      [all[ENCODER_STACK_X_INPUT], keyPadding, all[ENCODER_STACK_ATTENTION_BIAS_INPUT]] : [all[ENCODER_STACK_X_INPUT], keyPadding];
  return nb.executeSingleOutput(opNames('TransformerEncoderStack').tensorflowOp, builder.build(), [...leading, ...weights]);
};

export const transformerEncoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderStack'),
  backendName: 'tensorflow',
  kernelFunc: transformerEncoderStack,
};
