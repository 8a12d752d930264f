/**
 * TransformerEncoderStack on tfjs-node (`tensorflow`): one call of the op
 * library's TensorFlow op of the same name, whose `weights` input is the list of
 * every layer's 18 weight inputs (the core keeps the tokens packed between layers).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {
  ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, EncoderStackAttrs, kernelName, opNames,
} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';

const transformerEncoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as unknown as EncoderStackAttrs;
  const all = Object.keys(inputs).sort((p, q) => Number(p) - Number(q)).map(key => inputs[key] as TensorInfo);
  const weights = all.slice(2);
  const keyPadding = all[ENCODER_STACK_KEY_PADDING_INPUT];
  const opAttrs = new OpAttrs(nb)
      .int('N', weights.length).dtype('Tpad', keyPadding.dtype)
      .int('num_layers', a.numLayers).int('num_heads', a.numHeads).bool('norm_first', a.normFirst)
      .string('activation', a.activation).floats('eps1', a.layerNormEps1).floats('eps2', a.layerNormEps2)
      .bool('is_causal', a.isCausal).float('scale', a.scale).bools('packed_qkv', a.packedQkv)
      .bool('has_key_padding_mask', a.hasKeyPaddingMask)
      .build();
  return nb.executeSingleOutput(opNames('TransformerEncoderStack').tensorflowOp, opAttrs, [all[ENCODER_STACK_X_INPUT], keyPadding, ...weights]);
};

export const transformerEncoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderStack'),
  backendName: 'tensorflow',
  kernelFunc: transformerEncoderStack,
};
