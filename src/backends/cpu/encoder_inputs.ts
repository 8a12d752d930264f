/**
 * One encoder layer's kernel inputs (TransformerEncoderLayer's names; a
 * stack's layers are runs of the same inputs) as the portable layer's
 * parameters: the backend's own typed arrays, never copied.
 */
import type {NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs} from '../../op_table';
import {
  EncoderLayerParams, PackedAttentionBias, packedPositions, QkvProjection,
} from '../../portable/encoder_layer';
import type {TokenPacking} from '../../portable/token_packing';
import {CpuBackend, floatValues} from './cpu_backend';

export function portableLayerParams(
    backend: CpuBackend, inputs: NamedTensorInfoMap, attrs: EncoderLayerAttrs): EncoderLayerParams {
  const f = (name: string) => floatValues(backend, inputs[name] as TensorInfo);
  // Absent optional inputs (biases, betas, the gate) are [0]-shaped placeholders.
  const optional = (name: string) => (inputs[name] as TensorInfo).shape.some(d => d === 0) ? null : f(name);
  const qkv: QkvProjection = attrs.packedQkv ?
      {packed: true, weight: f('qkvWeight'), bias: optional('qkvBias')} :
      {packed: false, weights: [f('qWeight'), f('kWeight'), f('vWeight')],
       biases: [optional('qBias'), optional('kBias'), optional('vBias')]};
  const ffnIn = inputs.ffnInWeight as TensorInfo;
  const rms = attrs.normKind === 'rms';
  return {
    embed: ffnIn.shape[0], ffn: ffnIn.shape[1], numHeads: attrs.numHeads, normFirst: attrs.normFirst,
    activation: attrs.activation, normKind: attrs.normKind, eps1: attrs.layerNormEps1, eps2: attrs.layerNormEps2,
    isCausal: attrs.isCausal, scale: attrs.scale, qkv,
    outWeight: f('outWeight'), outBias: optional('outBias'),
    ln1Gamma: f('ln1Gamma'), ln1Beta: rms ? null : optional('ln1Beta'),
    ln2Gamma: f('ln2Gamma'), ln2Beta: rms ? null : optional('ln2Beta'),
    ffnInWeight: f('ffnInWeight'), ffnInBias: optional('ffnInBias'),
    ffnOutWeight: f('ffnOutWeight'), ffnOutBias: optional('ffnOutBias'),
    gateWeight: attrs.gatedMlp ? f('gateWeight') : null, gateBias: attrs.gatedMlp ? optional('gateBias') : null,
  };
}

/** The attention bias input [1 or B, H, S, S] over a packing (null when the op has none). */
export function portableAttentionBias(
    backend: CpuBackend, bias: TensorInfo | undefined, has: boolean, plan: TokenPacking): PackedAttentionBias | null {
  if (!has || bias === undefined) return null;
  return {values: floatValues(backend, bias), biasBatch: bias.shape[0], positions: packedPositions(plan)};
}
