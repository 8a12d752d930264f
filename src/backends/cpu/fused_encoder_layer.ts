/**
 * FusedTransformerEncoderLayer for the `cpu` backend, with padding removal:
 * the native core when it is loaded, else the portable TypeScript layer.
 */
import type {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs, FusedTransformerEncoderLayer} from '../../kernel_names';
import {EncoderLayerParams, encoderLayerPacked, QkvProjection} from '../../portable/encoder_layer';
import {packRows, planPacking, unpackRows} from '../../portable/token_packing';
import {asCpuBackend, CpuBackend, floatValues, typedValues} from './cpu_backend';
import {validityBytes} from './native_addon';
import {nativeLayerParams} from './native_encoder';
import {activeNativeCore} from './native_selection';

export function encoderParams(
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

export const fusedEncoderLayerCpu: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as EncoderLayerAttrs;
  const x = inputs.x as TensorInfo;
  const [batch, seq, embed] = x.shape;
  const keyPadding = a.hasKeyPaddingMask ? typedValues(cpu, inputs.keyPaddingMask as TensorInfo) : null;
  const core = activeNativeCore();
  if (core) {
    const out = new Float32Array(batch * seq * embed);
    const layer = nativeLayerParams(core, cpu, name => inputs[name] as TensorInfo, {
      numHeads: a.numHeads, packedQkv: a.packedQkv, activation: a.activation, normFirst: a.normFirst,
      isCausal: a.isCausal, eps1: a.layerNormEps1, eps2: a.layerNormEps2, scale: a.scale,
    });
    core.encoderLayer({
      ...layer, x: floatValues(cpu, x), out, B: batch, S: seq, E: embed,
      ...(keyPadding ? {keyPadding: validityBytes(keyPadding)} : {}),
    });
    return cpu.makeTensorInfo([batch, seq, embed], 'float32', out);
  }
  const plan = planPacking(batch, seq, keyPadding);
  const packed = packRows(floatValues(cpu, x), embed, plan);
  const y = encoderLayerPacked(packed, plan, encoderParams(cpu, inputs, a));
  return cpu.makeTensorInfo([batch, seq, embed], 'float32', unpackRows(y, embed, plan));
};

export const fusedEncoderLayerCpuConfig: KernelConfig = {
  kernelName: FusedTransformerEncoderLayer,
  backendName: 'cpu',
  kernelFunc: fusedEncoderLayerCpu,
};
