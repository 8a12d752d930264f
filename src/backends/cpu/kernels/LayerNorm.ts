/** LayerNorm on `cpu`: one pass over the rows (portable TypeScript; the converter's form is ten broadcasting ops). */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, LayerNormAttrs} from '../../../op_table';
import {layerNormRows} from '../../../portable/layer_norm';
import {asCpuBackend, floatValues} from '../cpu_backend';

const layerNorm: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const {x, gamma, beta} = inputs as Record<string, TensorInfo>;
  const width = x.shape[x.shape.length - 1];
  const size = x.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  layerNormRows(floatValues(cpu, x), size / width, width, floatValues(cpu, gamma), floatValues(cpu, beta),
      (attrs as LayerNormAttrs).epsilon, out);
  return cpu.makeTensorInfo(x.shape, 'float32', out);
};

export const layerNormConfig: KernelConfig = {
  kernelName: kernelName('LayerNorm'),
  backendName: 'cpu',
  kernelFunc: layerNorm,
};
