/** LayerNorm on tfjs-node (`tensorflow`): the op library's TensorFlow op of the same name (CPU and GPU kernels). */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, LayerNormAttrs, opNames} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';

const layerNorm: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {x, gamma, beta} = inputs as Record<string, TensorInfo>;
  const opAttrs = new OpAttrs(nb).float('epsilon', (attrs as LayerNormAttrs).epsilon).build();
  return nb.executeSingleOutput(opNames('LayerNorm').tensorflowOp, opAttrs, [x, gamma, beta]);
};

export const layerNormConfig: KernelConfig = {
  kernelName: kernelName('LayerNorm'),
  backendName: 'tensorflow',
  kernelFunc: layerNorm,
};
