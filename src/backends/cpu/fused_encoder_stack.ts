/**
 * FusedTransformerEncoderStack for the `cpu` backend. Native: one encoderStack
 * call, which removes padding once and keeps the tokens packed between layers.
 * Portable: the portable layer in a loop on rows packed once.
 */
import type {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {
  ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, ENCODER_WEIGHT_INPUTS, EncoderStackAttrs,
  encoderStackInputIndex, encoderStackLayerAttrs, FusedTransformerEncoderStack,
} from '../../kernel_names';
import {encoderLayerPacked} from '../../portable/encoder_layer';
import {packRows, planPacking, unpackRows} from '../../portable/token_packing';
import {asCpuBackend, floatValues, typedValues} from './cpu_backend';
import {encoderParams} from './fused_encoder_layer';
import {validityBytes} from './native_addon';
import {nativeLayerParams} from './native_encoder';
import {activeNativeCore} from './native_selection';

type WeightName = typeof ENCODER_WEIGHT_INPUTS[number];

/** Layer `layer`'s inputs by FusedTransformerEncoderLayer input name. */
function layerInputs(inputs: NamedTensorInfoMap, layer: number): NamedTensorInfoMap {
  const named: NamedTensorInfoMap = {};
  for (const name of ENCODER_WEIGHT_INPUTS) named[name] = inputs[encoderStackInputIndex(layer, name as WeightName)];
  return named;
}

export const fusedEncoderStackCpu: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as unknown as EncoderStackAttrs;
  const x = inputs[ENCODER_STACK_X_INPUT] as TensorInfo;
  const [batch, seq, embed] = x.shape;
  const keyPadding = a.hasKeyPaddingMask ? typedValues(cpu, inputs[ENCODER_STACK_KEY_PADDING_INPUT] as TensorInfo) : null;
  const layers = Array.from({length: a.numLayers}, (_, l) => layerInputs(inputs, l));
  const core = activeNativeCore();
  if (core) {
    const out = new Float32Array(batch * seq * embed);
    core.encoderStack({
      x: floatValues(cpu, x), out, B: batch, S: seq, E: embed,
      ...(keyPadding ? {keyPadding: validityBytes(keyPadding)} : {}),
      layers: layers.map((named, l) => nativeLayerParams(core, cpu, name => named[name] as TensorInfo, {
        numHeads: a.numHeads, packedQkv: a.packedQkv[l], activation: a.activation, normFirst: a.normFirst,
        isCausal: a.isCausal, eps1: a.layerNormEps1[l], eps2: a.layerNormEps2[l], scale: a.scale,
      })),
    });
    return cpu.makeTensorInfo([batch, seq, embed], 'float32', out);
  }
  const plan = planPacking(batch, seq, keyPadding);
  let rows = packRows(floatValues(cpu, x), embed, plan);
  layers.forEach((named, l) => {
    rows = encoderLayerPacked(rows, plan, encoderParams(cpu, named, encoderStackLayerAttrs(a, l)));
  });
  return cpu.makeTensorInfo([batch, seq, embed], 'float32', unpackRows(rows, embed, plan));
};

export const fusedEncoderStackCpuConfig: KernelConfig = {
  kernelName: FusedTransformerEncoderStack,
  backendName: 'cpu',
  kernelFunc: fusedEncoderStackCpu,
};
