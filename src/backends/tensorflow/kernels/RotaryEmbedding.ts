/** RotaryEmbedding on tfjs-node (`tensorflow`): the op library's TensorFlow op of the same name. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, opNames, RotaryEmbeddingAttrs} from '../../../op_table';
import {asNodeBackend, OpAttrs} from '../node_backend';

const rotaryEmbedding: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {x, positions, cos, sin} = inputs as Record<string, TensorInfo>;
  const a = attrs as RotaryEmbeddingAttrs;
  const opAttrs = new OpAttrs(nb).int('rotary_dim', a.rotaryDim).bool('interleaved', a.interleaved).build();
  return nb.executeSingleOutput(opNames('RotaryEmbedding').tensorflowOp, opAttrs, [x, positions, cos, sin]);
};

export const rotaryEmbeddingConfig: KernelConfig = {
  kernelName: kernelName('RotaryEmbedding'),
  backendName: 'tensorflow',
  kernelFunc: rotaryEmbedding,
};
