/**
 * AttentionWithKVCache on tfjs-node (`tensorflow`): the op library's TensorFlow
 * op of the same name, which appends to the caches in place and returns them
 * (donated: see ../donated_cache.ts).
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, KvCacheAttentionAttrs, opNames} from '../../../op_table';
import {donateCaches} from '../donated_cache';
import {asNodeBackend, OpAttrs} from '../node_backend';
import {gpuPrecisionAttr} from '../precision_attr';

const attentionWithKVCache: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {q, k, v, keyCache, valueCache, pastLengths, newLengths} = inputs as Record<string, TensorInfo>;
  const caches = donateCaches(nb, keyCache, valueCache);
  try {
    const a = attrs as KvCacheAttentionAttrs;
    const opAttrs = new OpAttrs(nb).float('scale', a.scale).string('precision', gpuPrecisionAttr(a)).build();
    return nb.executeMultipleOutputs(opNames('AttentionWithKVCache').tensorflowOp, opAttrs,
                                     [q, k, v, caches.keyCache, caches.valueCache, pastLengths, newLengths], 4);
  } finally {
    for (const copy of caches.copies) copy.dispose();
  }
};

export const attentionWithKVCacheConfig: KernelConfig = {
  kernelName: kernelName('AttentionWithKVCache'),
  backendName: 'tensorflow',
  kernelFunc: attentionWithKVCache,
};
