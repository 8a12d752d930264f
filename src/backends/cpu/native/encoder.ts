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
  const pack = (name: string) => packedWeight(core, backend, input(name));
  const qkv = attrs.packedQkv ? {wqkv: pack('qkvWeight'), bqkv: f('qkvBias')} : {
    wq: pack('qWeight'), wk: pack('kWeight'), wv: pack('vWeight'), bq: f('qBias'), bk: f('kBias'), bv: f('vBias'),
  };
  return {
    numHeads: attrs.numHeads, ...qkv,
    wo: pack('outWeight'), bo: f('outBias'),
    w1: pack('ffnInWeight'), b1: f('ffnInBias'), w2: pack('ffnOutWeight'), b2: f('ffnOutBias'),
    ln1Gamma: f('ln1Gamma'), ln1Beta: f('ln1Beta'), ln1Eps: attrs.layerNormEps1,
    ln2Gamma: f('ln2Gamma'), ln2Beta: f('ln2Beta'), ln2Eps: attrs.layerNormEps2,
    activation: attrs.activation, normFirst: attrs.normFirst, isCausal: attrs.isCausal, scale: attrs.scale,
  };
}
