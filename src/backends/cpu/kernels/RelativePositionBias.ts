/** RelativePositionBias on `cpu`: portable TypeScript on the backend's typed arrays. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName} from '../../../op_table';
import {relativePositionBiasValues} from '../../../portable/relative_position_bias';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';

const relativePositionBias: KernelFunc = ({inputs, backend}) => {
  const cpu = asCpuBackend(backend);
  const {table, bucketOfDistance, queryPositions, keyPositions} = inputs as Record<string, TensorInfo>;
  const heads = table.shape[1];
  const values = relativePositionBiasValues(floatValues(cpu, table), heads,
      typedValues(cpu, bucketOfDistance) as Int32Array, typedValues(cpu, queryPositions) as Int32Array,
      typedValues(cpu, keyPositions) as Int32Array, 'relativePositionBias');
  return cpu.makeTensorInfo([1, heads, queryPositions.shape[0], keyPositions.shape[0]], 'float32', values);
};

export const relativePositionBiasConfig: KernelConfig = {
  kernelName: kernelName('RelativePositionBias'),
  backendName: 'cpu',
  kernelFunc: relativePositionBias,
};
