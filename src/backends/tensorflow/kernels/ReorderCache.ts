/**
 * ReorderCache on tfjs-node (`tensorflow`): the op library's BtReorderCache
 * (CPU and GPU kernels), which reorders the caches' batch rows in place (only each
 * source row's used positions move) and returns them (donated: see
 * ../donated_cache.ts), with the reordered lengths as a new tensor.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, opNames} from '../../../op_table';
import {donateCaches} from '../donated_cache';
import {asNodeBackend, OpAttrs} from '../node_backend';

const reorderCache: KernelFunc = ({inputs, backend}) => {
  const nb = asNodeBackend(backend);
  const {keyCache, valueCache, lengths, sourceRows} = inputs as Record<string, TensorInfo>;
  const caches = donateCaches(nb, keyCache, valueCache);
  try {
    return nb.executeMultipleOutputs(opNames('ReorderCache').tensorflowOp, new OpAttrs(nb).build(),
                                     [caches.keyCache, caches.valueCache, lengths, sourceRows], 3);
  } finally {
    for (const copy of caches.copies) copy.dispose();
  }
};

export const reorderCacheConfig: KernelConfig = {
  kernelName: kernelName('ReorderCache'),
  backendName: 'tensorflow',
  kernelFunc: reorderCache,
};
