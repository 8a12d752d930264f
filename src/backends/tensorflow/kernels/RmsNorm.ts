/** RmsNorm on tfjs-node (`tensorflow`): the op library's TensorFlow op of the same name. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, opNames, RmsNormAttrs} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';

const rmsNorm: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {x, gamma} = inputs as Record<string, TensorInfo>;
  const opAttrs = new OpAttrs(nb).float('epsilon', (attrs as RmsNormAttrs).epsilon).build();
  return nb.executeSingleOutput(opNames('RmsNorm').tensorflowOp, opAttrs, [x, gamma]);
};

export const rmsNormConfig: KernelConfig = {
  kernelName: kernelName('RmsNorm'),
  backendName: 'tensorflow',
  kernelFunc: rmsNorm,
};
