/** ScaledDotProductAttentionGrad on tfjs-node (`tensorflow`): the op library's TensorFlow op of the same name. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, opNames, SdpaAttrs} from '../../../op_table';
import {attentionOpAttrs} from '../attention_attrs';
import {asNodeBackend} from '../node_backend';

const scaledDotProductAttentionGrad: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {dy, q, k, v, attnMask, keyPaddingMask, out, lse} = inputs as Record<string, TensorInfo>;
  return nb.executeMultipleOutputs(opNames('ScaledDotProductAttentionGrad').tensorflowOp,
                                   attentionOpAttrs(nb, attrs as SdpaAttrs, attnMask, keyPaddingMask),
                                   [dy, q, k, v, attnMask, keyPaddingMask, out, lse], 4);
};

export const scaledDotProductAttentionGradConfig: KernelConfig = {
  kernelName: kernelName('ScaledDotProductAttentionGrad'),
  backendName: 'tensorflow',
  kernelFunc: scaledDotProductAttentionGrad,
};
