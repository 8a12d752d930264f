/**
 * TransformerEncoderStack on tfjs-node (`tensorflow`): one call of the op
 * library's TensorFlow op of the same name: x, key_padding_mask,
 * attention_bias, then `weights`, the list of every layer's 20 weight inputs
 * (the core keeps the tokens packed between layers).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {
  ENCODER_STACK_ATTENTION_BIAS_INPUT, ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_LEADING_INPUTS,
  ENCODER_STACK_X_INPUT, EncoderStackAttrs, kernelName, opNames,
} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';
import {gpuPrecisionAttr} from '../precision_attr';

const transformerEncoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as EncoderStackAttrs;
  const all = Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map(key => inputs[key] as TensorInfo);
  const weights = all.slice(ENCODER_STACK_LEADING_INPUTS);
  const keyPadding = all[ENCODER_STACK_KEY_PADDING_INPUT];
  const opAttrs = new OpAttrs(nb)
      .int('N', weights.length).dtype('Tpad', keyPadding.dtype)
      .int('num_layers', a.numLayers).int('num_heads', a.numHeads).bool('norm_first', a.normFirst)
      .string('activation', a.activation).floats('eps1', a.layerNormEps1).floats('eps2', a.layerNormEps2)
      .bool('is_causal', a.isCausal).float('scale', a.scale).bools('packed_qkv', a.packedQkv)
      .bool('has_key_padding_mask', a.hasKeyPaddingMask)
      .string('norm_kind', a.normKind).bool('gated_mlp', a.gatedMlp).bool('has_attention_bias', a.hasAttentionBias)
      .string('precision', gpuPrecisionAttr(a))
      .build();
  return nb.executeSingleOutput(opNames('TransformerEncoderStack').tensorflowOp, opAttrs, [
    all[ENCODER_STACK_X_INPUT], keyPadding, all[ENCODER_STACK_ATTENTION_BIAS_INPUT], ...weights,
  ]);
};

export const transformerEncoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderStack'),
  backendName: 'tensorflow',
  kernelFunc: transformerEncoderStack,
};
