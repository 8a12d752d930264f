/** ScaledDotProductAttention on tfjs-node (`tensorflow`): the op library's TensorFlow op of the same name. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, opNames, SdpaAttrs} from '../../../op_table';
import {attentionOpAttrs} from '../attention_attrs';
import {asNodeBackend} from '../node_backend';

const scaledDotProductAttention: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {q, k, v, attnMask, keyPaddingMask} = inputs as Record<string, TensorInfo>;
  return nb.executeMultipleOutputs(opNames('ScaledDotProductAttention').tensorflowOp,
                                   attentionOpAttrs(nb, attrs as SdpaAttrs, attnMask, keyPaddingMask),
                                   [q, k, v, attnMask, keyPaddingMask], 2);
};

export const scaledDotProductAttentionConfig: KernelConfig = {
  kernelName: kernelName('ScaledDotProductAttention'),
  backendName: 'tensorflow',
  kernelFunc: scaledDotProductAttention,
};
