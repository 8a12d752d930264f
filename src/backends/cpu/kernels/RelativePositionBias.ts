/**
 * RelativePositionBias on `cpu`: portable TypeScript on the backend's typed arrays.
 *
 * The bias depends only on the table and the positions, and a T5 encoder asks
 * for the same one on every call of the same length: the last result per table
 * is kept and copied out when the bucket and position inputs are equal (a
 * comparison of a few hundred integers instead of Sq · Sk lookups per head,
 * which were the largest JavaScript cost of a batch-1 T5-small encoder call).
 * Keyed by the table's dataId: tfjs never changes the data behind a dataId, and
 * the entry goes when the table does.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName} from '../../../op_table';
import {relativePositionBiasValues} from '../../../portable/relative_position_bias';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';

/** Results above this many floats are not kept (a long sequence's bias is cheap to recompute relative to its use). */
const MAX_CACHED_FLOATS = 1 << 20;

interface CachedBias {
  buckets: Int32Array;
  queries: Int32Array;
  keys: Int32Array;
  values: Float32Array;
}

const lastBias = new WeakMap<object, CachedBias>();

function sameValues(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const relativePositionBias: KernelFunc = ({inputs, backend}) => {
  const cpu = asCpuBackend(backend);
  const {table, bucketOfDistance, queryPositions, keyPositions} = inputs as Record<string, TensorInfo>;
  const heads = table.shape[1];
  const shape = [1, heads, queryPositions.shape[0], keyPositions.shape[0]];
  const buckets = typedValues(cpu, bucketOfDistance) as Int32Array;
  const queries = typedValues(cpu, queryPositions) as Int32Array;
  const keys = typedValues(cpu, keyPositions) as Int32Array;
  const cached = lastBias.get(table.dataId as object);
  if (cached && sameValues(cached.buckets, buckets) && sameValues(cached.queries, queries) &&
      sameValues(cached.keys, keys)) {
    return cpu.makeTensorInfo(shape, 'float32', cached.values.slice());
  }
  const values = relativePositionBiasValues(floatValues(cpu, table), heads, buckets, queries, keys,
                                            'relativePositionBias');
  if (values.length <= MAX_CACHED_FLOATS) {
    lastBias.set(table.dataId as object, {
      buckets: Int32Array.from(buckets), queries: Int32Array.from(queries), keys: Int32Array.from(keys),
      values: values.slice(),
    });
  }
  return cpu.makeTensorInfo(shape, 'float32', values);
};

export const relativePositionBiasConfig: KernelConfig = {
  kernelName: kernelName('RelativePositionBias'),
  backendName: 'cpu',
  kernelFunc: relativePositionBias,
};
