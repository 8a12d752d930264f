/**
 * TransformerEncoderStack on `cpu`. Native: one transformerEncoderStack call,
 * which removes padding once and keeps the tokens packed between layers.
 * Portable: the portable layer in a loop on rows packed once.
 */
import type {KernelConfig, KernelFunc, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {
  ENCODER_STACK_ATTENTION_BIAS_INPUT, ENCODER_STACK_KEY_PADDING_INPUT, ENCODER_STACK_X_INPUT, ENCODER_WEIGHT_INPUTS,
  EncoderStackAttrs,
  encoderStackInputIndex, encoderStackLayerAttrs, kernelName,
} from '../../../op_table';
import {encoderLayerPacked} from '../../../portable/encoder_layer';
import {packRows, planPacking, unpackRows} from '../../../portable/token_packing';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';
import {portableAttentionBias, portableLayerParams} from '../encoder_inputs';
import {validityBytes} from '../native/addon';
import {nativeAttentionBias, nativeLayerParams} from '../native/encoder';
import {activeNativeCore} from '../native/selection';

/** Layer `layer`'s inputs by TransformerEncoderLayer input name. */
function layerInputs(inputs: NamedTensorInfoMap, layer: number): NamedTensorInfoMap {
  const named: NamedTensorInfoMap = {};
  for (const name of ENCODER_WEIGHT_INPUTS) named[name] = inputs[encoderStackInputIndex(layer, name)];
  return named;
}

const transformerEncoderStack: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const a = attrs as unknown as EncoderStackAttrs;
  const x = inputs[ENCODER_STACK_X_INPUT] as TensorInfo;
  const [batch, seq, embed] = x.shape;
  const keyPadding = a.hasKeyPaddingMask ? typedValues(cpu, inputs[ENCODER_STACK_KEY_PADDING_INPUT] as TensorInfo) : null;
  const layers = Array.from({length: a.numLayers}, (_, l) => layerInputs(inputs, l));
  const core = activeNativeCore();
  if (core) {
    const out = new Float32Array(batch * seq * embed);
    core.transformerEncoderStack({
      x: floatValues(cpu, x), out, B: batch, S: seq, E: embed,
      ...(keyPadding ? {keyPadding: validityBytes(keyPadding)} : {}),
      ...nativeAttentionBias(cpu, inputs[ENCODER_STACK_ATTENTION_BIAS_INPUT] as TensorInfo, a.hasAttentionBias),
      layers: layers.map((named, l) =>
        nativeLayerParams(core, cpu, name => named[name] as TensorInfo, encoderStackLayerAttrs(a, l))),
    });
    return cpu.makeTensorInfo([batch, seq, embed], 'float32', out);
  }
  const plan = planPacking(batch, seq, keyPadding);
  let rows = packRows(floatValues(cpu, x), embed, plan);
  // One bias for every layer, read at the tokens' original positions (the rows stay packed between layers).
  const bias = portableAttentionBias(cpu, inputs[ENCODER_STACK_ATTENTION_BIAS_INPUT] as TensorInfo,
                                     a.hasAttentionBias, plan);
  layers.forEach((named, l) => {
    rows = encoderLayerPacked(rows, plan, portableLayerParams(cpu, named, encoderStackLayerAttrs(a, l)), bias);
  });
  return cpu.makeTensorInfo([batch, seq, embed], 'float32', unpackRows(rows, embed, plan));
};

export const transformerEncoderStackConfig: KernelConfig = {
  kernelName: kernelName('TransformerEncoderStack'),
  backendName: 'cpu',
  kernelFunc: transformerEncoderStack,
};
