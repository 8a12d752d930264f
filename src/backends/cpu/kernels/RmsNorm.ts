/** RmsNorm on `cpu`: one native call over the rows, or the portable loop. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, RmsNormAttrs} from '../../../op_table';
import {rmsNormRows} from '../../../portable/rms_norm';
import {asCpuBackend, floatValues} from '../cpu_backend';
import {activeNativeCoreWith} from '../native/selection';

const rmsNorm: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const {x, gamma} = inputs as Record<string, TensorInfo>;
  const width = x.shape[x.shape.length - 1];
  const size = x.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(size);
  const epsilon = (attrs as RmsNormAttrs).epsilon;
  const core = activeNativeCoreWith('rmsNorm');
  if (core) {
    core.rmsNorm({x: floatValues(cpu, x), rows: size / width, cols: width, gamma: floatValues(cpu, gamma), eps: epsilon, out});
  } else {
    rmsNormRows(floatValues(cpu, x), size / width, width, floatValues(cpu, gamma), epsilon, out);
  }
  return cpu.makeTensorInfo(x.shape, 'float32', out);
};

export const rmsNormConfig: KernelConfig = {
  kernelName: kernelName('RmsNorm'),
  backendName: 'cpu',
  kernelFunc: rmsNorm,
};
