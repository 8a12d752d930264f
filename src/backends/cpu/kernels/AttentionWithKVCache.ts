/**
 * AttentionWithKVCache on `cpu`: the new keys/values are written into the
 * caches' own arrays (donated: see donated_cache.ts) and the native core (or
 * the portable loop) attends over each sequence's cached rows.
 */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {kernelName, KvCacheAttentionAttrs} from '../../../op_table';
import {attendOverCache} from '../../../portable/kv_cache_attention';
import {asCpuBackend, floatValues, typedValues} from '../cpu_backend';
import {donateCache} from '../donated_cache';
import {activeNativeCoreWith} from '../native/selection';

const attentionWithKVCache: KernelFunc = ({inputs, backend, attrs}) => {
  const cpu = asCpuBackend(backend);
  const {q, k, v, keyCache, valueCache, pastLengths, newLengths} = inputs as Record<string, TensorInfo>;
  const {scale} = attrs as KvCacheAttentionAttrs;
  const [batch, heads, newTokens, depth] = q.shape;
  const [, kvHeads, capacity] = keyCache.shape;
  const valueDepth = v.shape[3];
  const past = typedValues(cpu, pastLengths) as Int32Array, fresh = typedValues(cpu, newLengths) as Int32Array;
  const keys = donateCache(cpu, keyCache), values = donateCache(cpu, valueCache);
  const out = new Float32Array(batch * heads * newTokens * valueDepth);
  const lengths = new Int32Array(batch);
  const qv = floatValues(cpu, q), kv = floatValues(cpu, k), vv = floatValues(cpu, v);
  const core = activeNativeCoreWith('attentionWithKVCache');
  if (core) {
    core.attentionWithKVCache({q: qv, k: kv, v: vv, keyCache: keys.values, valueCache: values.values, pastLengths: past,
      newLengths: fresh, out, lengths, B: batch, H: heads, Hkv: kvHeads, N: newTokens, C: capacity, D: depth,
      Dv: valueDepth, scale});
  } else {
    for (let b = 0; b < batch; b++) {
      lengths[b] = past[b] + fresh[b];
      for (let g = 0; g < kvHeads; g++) {
        const src = (b * kvHeads + g) * newTokens, dst = (b * kvHeads + g) * capacity + past[b];
        keys.values.set(kv.subarray(src * depth, (src + fresh[b]) * depth), dst * depth);
        values.values.set(vv.subarray(src * valueDepth, (src + fresh[b]) * valueDepth), dst * valueDepth);
      }
    }
    attendOverCache({
      batch, heads, kvHeads, depth, valueDepth, scale, past, fresh,
      query: (b, h) => ({values: qv, offset: (b * heads + h) * newTokens * depth, rowStride: depth}),
      keys: (b, g) => ({values: keys.values, offset: (b * kvHeads + g) * capacity * depth, rowStride: depth}),
      values: (b, g) => ({values: values.values, offset: (b * kvHeads + g) * capacity * valueDepth, rowStride: valueDepth}),
      output: (b, h) => ({values: out, offset: (b * heads + h) * newTokens * valueDepth, rowStride: valueDepth}),
    });
  }
  return [
    cpu.makeTensorInfo(q.shape.slice(0, 3).concat([valueDepth]), 'float32', out),
    keys.output, values.output, cpu.makeTensorInfo([batch], 'int32', lengths),
  ];
};

export const attentionWithKVCacheConfig: KernelConfig = {
  kernelName: kernelName('AttentionWithKVCache'),
  backendName: 'cpu',
  kernelFunc: attentionWithKVCache,
};
