/**
 * One encoder layer's kernel inputs (TransformerEncoderLayer's names; a
 * stack's layers are runs of the same inputs) as the portable layer's
 * parameters: the backend's own typed arrays, never copied.
 */
import type {NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs} from '../../op_table';
import {EncoderLayerParams, QkvProjection} from '../../portable/encoder_layer';
import {CpuBackend, floatValues} from './cpu_backend';

export function portableLayerParams(
    backend: CpuBackend, inputs: NamedTensorInfoMap, attrs: EncoderLayerAttrs): EncoderLayerParams {
  const f = (name: string) => floatValues(backend, inputs[name] as TensorInfo);
  const qkv: QkvProjection = attrs.packedQkv ?
      {packed: true, weight: f('qkvWeight'), bias: f('qkvBias')} :
      {packed: false, weights: [f('qWeight'), f('kWeight'), f('vWeight')], biases: [f('qBias'), f('kBias'), f('vBias')]};
  const ffnIn = inputs.ffnInWeight as TensorInfo;
  return {
    embed: ffnIn.shape[0], ffn: ffnIn.shape[1], numHeads: attrs.numHeads, normFirst: attrs.normFirst,
    activation: attrs.activation, eps1: attrs.layerNormEps1, eps2: attrs.layerNormEps2,
    isCausal: attrs.isCausal, scale: attrs.scale, qkv,
    outWeight: f('outWeight'), outBias: f('outBias'),
    ln1Gamma: f('ln1Gamma'), ln1Beta: f('ln1Beta'), ln2Gamma: f('ln2Gamma'), ln2Beta: f('ln2Beta'),
    ffnInWeight: f('ffnInWeight'), ffnInBias: f('ffnInBias'),
    ffnOutWeight: f('ffnOutWeight'), ffnOutBias: f('ffnOutBias'),
  };
}
