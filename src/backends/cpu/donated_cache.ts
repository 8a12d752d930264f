/**
 * The in-place update of a key/value cache on `cpu`: a kernel writes the new
 * rows into the cache's own Float32Array and returns that same data as its
 * output (the input tensor and the output share it, as a reshape's do), so no
 * step copies the past. When the data is shared with another tensor (a reshape
 * of the cache, a clone), writing would change that tensor too: the cache is
 * copied first, once, and the copy is returned.
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {CpuBackend, floatValues} from './cpu_backend';

export interface DonatedCache {
  /** Where the kernel writes. */
  values: Float32Array;
  /** The kernel's output for this cache. */
  output: TensorInfo;
}

export function donateCache(cpu: CpuBackend, cache: TensorInfo): DonatedCache {
  const values = floatValues(cpu, cache);
  if (cpu.refCount?.(cache.dataId) === 1 && cpu.incRef) {
    cpu.incRef(cache.dataId);
    return {values, output: {dataId: cache.dataId, shape: cache.shape, dtype: cache.dtype}};
  }
  const copy = values.slice();
  return {values: copy, output: cpu.makeTensorInfo(cache.shape, 'float32', copy)};
}
