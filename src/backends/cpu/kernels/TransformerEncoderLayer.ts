/**
 * TransformerEncoderLayer on `cpu`, with padding removal: the native core
 * when it is loaded, else the portable TypeScript layer.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs, kernelName} from '../../../op_table';
import {encoderLayerPacked} from '../../../portable/encoder_layer';
import {packRows, planPacking, unpackRows} from '../../../portable/token_packing';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';
import {portableAttentionBias, portableLayerParams} from '../encoder_inputs';
import {validityBytes} from '../native/addon';
import {nativeAttentionBias, nativeLayerParams} from '../native/encoder';
import {activeNativeCore} from '../native/selection';

const transformerEncoderLayer: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as EncoderLayerAttrs;
  const x = inputs.x as TensorInfo;
  const [batch, seq, embed] = x.shape;
  const keyPadding = a.hasKeyPaddingMask ? typedValues(cpu, inputs.keyPaddingMask as TensorInfo) : null;
  const core = activeNativeCore();
  if (core) {
    const out = new Float32Array(batch * seq * embed);
    core.transformerEncoderLayer({
      ...nativeLayerParams(core, cpu, name => inputs[name] as TensorInfo, a),
      x: floatValues(cpu, x), out, B: batch, S: seq, E: embed,
      ...(keyPadding ? {keyPadding: validityBytes(keyPadding)} : {}),
      ...nativeAttentionBias(cpu, inputs.attentionBias as TensorInfo, a.hasAttentionBias),
    });
    return cpu.makeTensorInfo([batch, seq, embed], 'float32', out);
  }
  const plan = planPacking(batch, seq, keyPadding);
  const packed = packRows(floatValues(cpu, x), embed, plan);
  const bias = portableAttentionBias(cpu, inputs.attentionBias as TensorInfo, a.hasAttentionBias, plan);
  const y = encoderLayerPacked(packed, plan, portableLayerParams(cpu, inputs, a), bias);
  return cpu.makeTensorInfo([batch, seq, embed], 'float32', unpackRows(y, embed, plan));
};

export const transformerEncoderLayerConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderLayer'),
  backendName: 'cpu',
  kernelFunc: transformerEncoderLayer,
};
