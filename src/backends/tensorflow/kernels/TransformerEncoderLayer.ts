/**
 * TransformerEncoderLayer on tfjs-node (`tensorflow`): the op library's
 * TensorFlow op of the same name (kernels/bindings/tensorflow).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {ENCODER_WEIGHT_INPUTS, EncoderLayerAttrs, kernelName, opNames} from '../../../op_table';
import {OP_LIBRARY_TAKES_T5_ENCODER_INPUTS, opLibraryLayerWeights} from '../encoder_op_inputs';
import {asNodeBackend, OpAttrs} from '../node_backend';

const transformerEncoderLayer: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as EncoderLayerAttrs;
  const input = (name: string) => inputs[name] as TensorInfo;
  const ordered = [
    input('x'), ...opLibraryLayerWeights(ENCODER_WEIGHT_INPUTS.map(input)), input('keyPaddingMask'),
    ...(OP_LIBRARY_TAKES_T5_ENCODER_INPUTS ? [input('attentionBias')] : []),
  ];
  const builder = new OpAttrs(nb)
      .dtype('Tpad', input('keyPaddingMask').dtype)
      .int('num_heads', a.numHeads).bool('norm_first', a.normFirst).string('activation', a.activation)
      .float('eps1', a.layerNormEps1).float('eps2', a.layerNormEps2).bool('is_causal', a.isCausal)
      .float('scale', a.scale).bool('packed_qkv', a.packedQkv).bool('has_key_padding_mask', a.hasKeyPaddingMask);
  if (OP_LIBRARY_TAKES_T5_ENCODER_INPUTS) {
    builder.string('norm_kind', a.normKind).bool('gated_mlp', a.gatedMlp).bool('has_attention_bias', a.hasAttentionBias);
  }
  return nb.executeSingleOutput(opNames('TransformerEncoderLayer').tensorflowOp, builder.build(), ordered);
};

export const transformerEncoderLayerConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderLayer'),
  backendName: 'tensorflow',
  kernelFunc: transformerEncoderLayer,
};
