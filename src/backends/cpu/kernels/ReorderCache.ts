/**
 * ReorderCache on `cpu`: the caches are donated (donated_cache.ts) and their
 * batch rows reordered in place by the native core (btk_reorder_cache) or the
 * portable routine, moving only each
 * row's used positions; the lengths are a new [B] tensor.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName} from '../../../op_table';
import {reorderCacheRows} from '../../../portable/reorder_cache';
import {asCpuBackend, typedValues} from '../cpu_backend';
import {donateCache} from '../donated_cache';
import {activeNativeCoreWith} from '../native/selection';

const reorderCache: KernelFunc = ({inputs, backend}) => {
  const cpu = asCpuBackend(backend);
  const {keyCache, valueCache, lengths: oldLengths, sourceRows: rows} = inputs as Record<string, TensorInfo>;
  const [layers, batch, kvHeads, capacity, depth] = keyCache.shape;
  const keys = donateCache(cpu, keyCache), values = donateCache(cpu, valueCache);
  const lengths = typedValues(cpu, oldLengths) as Int32Array;
  const sourceRows = typedValues(cpu, rows) as Int32Array;
  const core = activeNativeCoreWith('reorderCache');
  let next: Int32Array;
  if (core) {
    // Native: the same in-place reorder in one call; it writes the lengths in place, so into a copy.
    next = lengths.slice();
    core.reorderCache({keyCache: keys.values, valueCache: values.values, lengths: next, sourceRows, layers, B: batch,
      Hkv: kvHeads, C: capacity, D: depth});
  } else {
    next = reorderCacheRows({
      caches: [keys.values, values.values], layers, batch, kvHeads, capacity, depth, lengths, sourceRows,
    });
  }
  return [keys.output, values.output, cpu.makeTensorInfo([batch], 'int32', next)];
};

export const reorderCacheConfig: KernelConfig = {
  kernelName: kernelName('ReorderCache'),
  backendName: 'cpu',
  kernelFunc: reorderCache,
};
