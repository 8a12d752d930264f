/**
 * TransformerEncoderLayer on tfjs-node (`tensorflow`): the op library's
 * TensorFlow op of the same name (kernels/bindings/tensorflow), whose inputs
 * are ENCODER_KERNEL_INPUTS in order (x, the 20 weights, key_padding_mask,
 * attention_bias).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {ENCODER_KERNEL_INPUTS, EncoderLayerAttrs, kernelName, opNames} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';
import {gpuPrecisionAttr} from '../precision_attr';

const transformerEncoderLayer: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const a = attrs as EncoderLayerAttrs;
  const ordered = ENCODER_KERNEL_INPUTS.map(name => inputs[name] as TensorInfo);
  const opAttrs = new OpAttrs(nb)
      .dtype('Tpad', (inputs.keyPaddingMask as TensorInfo).dtype)
      .int('num_heads', a.numHeads).bool('norm_first', a.normFirst).string('activation', a.activation)
      .float('eps1', a.layerNormEps1).float('eps2', a.layerNormEps2).bool('is_causal', a.isCausal)
      .float('scale', a.scale).bool('packed_qkv', a.packedQkv).bool('has_key_padding_mask', a.hasKeyPaddingMask)
      .string('norm_kind', a.normKind).bool('gated_mlp', a.gatedMlp).bool('has_attention_bias', a.hasAttentionBias)
      .string('precision', gpuPrecisionAttr(a))
      .build();
  return nb.executeSingleOutput(opNames('TransformerEncoderLayer').tensorflowOp, opAttrs, ordered);
};

export const transformerEncoderLayerConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderLayer'),
  backendName: 'tensorflow',
  kernelFunc: transformerEncoderLayer,
};
