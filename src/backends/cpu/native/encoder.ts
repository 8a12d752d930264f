/**
 * Encoder layer arguments for the native core's transformerEncoderLayer/Stack: the
 * backend's own typed arrays (no copies) and the weights' cached packs.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs} from '../../../op_table';
import {CpuBackend, floatValues} from '../cpu_backend';
import {NativeCore} from './addon';
import type {EncoderLayerParams} from './api';
import {packedWeight} from './packed_weights';

/**
 * The addon's layer object; `input(name)` returns the layer's kernel input of
 * that name (ENCODER_WEIGHT_INPUTS names), `attrs` its layer attributes.
 */
export function nativeLayerParams(
    core: NativeCore, backend: CpuBackend, input: (name: string) => TensorInfo,
    attrs: EncoderLayerAttrs): EncoderLayerParams {
  const f = (name: string) => floatValues(backend, input(name));
  // Absent biases and betas are [0]-shaped placeholders: the addon takes them as undefined (0).
  const optional = (name: string) => input(name).shape.some(d => d === 0) ? undefined : f(name);
  const pack = (name: string) => packedWeight(core, backend, input(name));
  const qkv = attrs.packedQkv ? {wqkv: pack('qkvWeight'), bqkv: optional('qkvBias')} : {
    wq: pack('qWeight'), wk: pack('kWeight'), wv: pack('vWeight'),
    bq: optional('qBias'), bk: optional('kBias'), bv: optional('vBias'),
  };
  const rms = attrs.normKind === 'rms';
  const gate = attrs.gatedMlp ? {gatedMlp: true, wgate: pack('gateWeight'), bgate: optional('gateBias')} : {};
  return {
    numHeads: attrs.numHeads, ...qkv, ...gate,
    wo: pack('outWeight'), bo: optional('outBias'),
    w1: pack('ffnInWeight'), b1: optional('ffnInBias'), w2: pack('ffnOutWeight'), b2: optional('ffnOutBias'),
    normKind: rms ? 'rms' : 'layer',
    ln1Gamma: f('ln1Gamma'), ln1Eps: attrs.layerNormEps1, ln2Gamma: f('ln2Gamma'), ln2Eps: attrs.layerNormEps2,
    // An RMSNorm has no beta (the addon refuses one).
    ...(rms ? {} : {ln1Beta: optional('ln1Beta'), ln2Beta: optional('ln2Beta')}),
    activation: attrs.activation, normFirst: attrs.normFirst, isCausal: attrs.isCausal, scale: attrs.scale,
  };
}

/** The addon's attentionBias field: the [1 or B, H, S, S] input's values, or nothing. */
export function nativeAttentionBias(
    backend: CpuBackend, bias: TensorInfo | undefined, has: boolean): {attentionBias?: Float32Array} {
  return has && bias !== undefined ? {attentionBias: floatValues(backend, bias)} : {};
}
