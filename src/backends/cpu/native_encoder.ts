/**
 * Encoder layer arguments for the native core's encoderLayer/encoderStack: the
 * backend's own typed arrays (no copies) and the weights' cached packs.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderActivation} from '../../kernel_names';
import {CpuBackend, floatValues} from './cpu_backend';
import {NativeCore} from './native_addon';
import type {EncoderLayerParams} from './native_api';
import {packedWeight} from './packed_weights';

/** One layer's options, as the kernels' attributes give them. */
export interface NativeLayerOptions {
  numHeads: number;
  packedQkv: boolean;
  activation: EncoderActivation;
  normFirst: boolean;
  isCausal: boolean;
  eps1: number;
  eps2: number;
  scale: number;
}

/**
 * The addon's layer object; `input(name)` returns the layer's kernel input of
 * that name (ENCODER_WEIGHT_INPUTS names).
 */
export function nativeLayerParams(
    core: NativeCore, backend: CpuBackend, input: (name: string) => TensorInfo,
    options: NativeLayerOptions): EncoderLayerParams {
  const f = (name: string) => floatValues(backend, input(name));
  const pack = (name: string) => packedWeight(core, backend, input(name));
  const qkv = options.packedQkv ? {wqkv: pack('qkvWeight'), bqkv: f('qkvBias')} : {
    wq: pack('qWeight'), wk: pack('kWeight'), wv: pack('vWeight'), bq: f('qBias'), bk: f('kBias'), bv: f('vBias'),
  };
  return {
    numHeads: options.numHeads, ...qkv,
    wo: pack('outWeight'), bo: f('outBias'),
    w1: pack('ffnInWeight'), b1: f('ffnInBias'), w2: pack('ffnOutWeight'), b2: f('ffnOutBias'),
    ln1Gamma: f('ln1Gamma'), ln1Beta: f('ln1Beta'), ln1Eps: options.eps1,
    ln2Gamma: f('ln2Gamma'), ln2Beta: f('ln2Beta'), ln2Eps: options.eps2,
    activation: options.activation, normFirst: options.normFirst, isCausal: options.isCausal, scale: options.scale,
  };
}

