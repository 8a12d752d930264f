/**
 * Attention over a preallocated, fixed-capacity key/value cache, appending in
 * place. Semantics (every implementation):
 * - q [B, H, N, D], k [B, Hkv, N, D], v [B, Hkv, N, Dv]: N new tokens per
 *   sequence, of which the first newLengths[b] are real (the rest padding,
 *   never read); keyCache [B, Hkv, C, D], valueCache [B, Hkv, C, Dv];
 *   pastLengths [B] int32: rows already cached.
 * - The new keys/values of sequence b go to cache rows [past_b, past_b + new_b);
 *   its new query i attends to rows [0, past_b + i] (bottom-right causal);
 *   query head h reads kv head floor(h / (H / Hkv)). Padding query rows give 0.
 * - Returns out [B, H, N, Dv], the caches and lengths = past + new [B].
 * - past + new above C is an error naming the sequence (nothing is written).
 *
 * The caches are donated: `cpu` and `tensorflow` write into their buffers and
 * return them (no copy of the past per step); where a cache's data is shared
 * with another tensor (a reshape of it) the `cpu` kernel copies first, and the
 * composite fallback (other backends) returns new tensors. Use the returned
 * caches; the inputs' contents afterwards are unspecified.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOp} from '../dispatch/dispatch';
import type {GpuPrecision} from '../config';
import {KvCacheAttentionAttrs} from '../op_table';
import {validateCacheLengths} from './cache_lengths';
import {
  describeShape, describeValue, fail, requireElementCount, requireFiniteNumber, requireFloat32, requireKnownKeys,
  requireRank, requireTensor, resolveGpuPrecision,
} from './validate';

export interface KVCache {
  /** [B, Hkv, C, D] */
  keyCache: tf.Tensor4D;
  /** [B, Hkv, C, Dv] */
  valueCache: tf.Tensor4D;
  /** [B] int32: rows of each sequence already in the cache. */
  pastLengths: tf.Tensor1D;
}

export interface AttentionWithKVCacheOptions {
  /** [B] int32: new tokens of each sequence (the first newLengths[b] of the N); default N for all. */
  newLengths?: tf.Tensor1D;
  /** Multiplies q·k; default 1/sqrt(D). */
  scale?: number;
  /**
   * The GPU kernel's matrix products (tfjs-node-gpu): 'highest', 'high' or 'medium' (see
   * setGpuPrecision); default getGpuPrecision() at the call. The CPU kernels and the composite
   * compute in float32 and ignore it.
   */
  precision?: GpuPrecision;
}

export interface AttentionWithKVCacheResult {
  out: tf.Tensor4D;
  keyCache: tf.Tensor4D;
  valueCache: tf.Tensor4D;
  /** [B] int32: pastLengths + newLengths, the next call's pastLengths. */
  lengths: tf.Tensor1D;
}

const OP = 'attentionWithKVCache';

/** An empty cache: zeros [B, Hkv, capacity, D] (and Dv) and pastLengths 0. */
export function createKVCache(batch: number, kvHeads: number, capacity: number, headDim: number,
    valueDim = headDim): KVCache {
  for (const [name, value] of [['batch', batch], ['kvHeads', kvHeads], ['capacity', capacity], ['headDim', headDim],
    ['valueDim', valueDim]] as Array<[string, number]>) {
    if (!Number.isInteger(value) || value < 0) fail('createKVCache', `${name} must be a non-negative integer, got ${value}`);
  }
  requireElementCount('createKVCache', 'the key cache', [batch, kvHeads, capacity, headDim], 'B*Hkv*C*D');
  requireElementCount('createKVCache', 'the value cache', [batch, kvHeads, capacity, valueDim], 'B*Hkv*C*Dv');
  return {
    keyCache: tf.zeros([batch, kvHeads, capacity, headDim]),
    valueCache: tf.zeros([batch, kvHeads, capacity, valueDim]),
    pastLengths: tf.zeros([batch], 'int32'),
  };
}

export function attentionWithKVCache(q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, cache: KVCache,
    options: AttentionWithKVCacheOptions = {}): AttentionWithKVCacheResult {
  if (cache == null || typeof cache !== 'object') fail(OP, `cache must be {keyCache, valueCache, pastLengths}, got ${describeValue(cache)}`);
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['newLengths', 'scale', 'precision']);
  const precision = resolveGpuPrecision(OP, options.precision);
  const tensors = {} as Record<'q' | 'k' | 'v' | 'keyCache' | 'valueCache', tf.Tensor>;
  const layouts: Record<'q' | 'k' | 'v' | 'keyCache' | 'valueCache', string> = {
    q: '[B, H, N, D]', k: '[B, Hkv, N, D]', v: '[B, Hkv, N, Dv]', keyCache: '[B, Hkv, C, D]', valueCache: '[B, Hkv, C, Dv]',
  };
  const given: Record<string, unknown> = {q, k, v, keyCache: cache.keyCache, valueCache: cache.valueCache};
  for (const name of Object.keys(layouts) as Array<keyof typeof tensors>) {
    const label = name === 'keyCache' || name === 'valueCache' ? `cache.${name}` : name;
    const t = requireTensor(OP, label, given[name]);
    requireRank(OP, label, t, 4, layouts[name]);
    requireFloat32(OP, label, t);
    tensors[name] = t;
  }
  const [batch, heads, newTokens, depth] = tensors.q.shape as [number, number, number, number];
  const kvHeads = tensors.k.shape[1] as number;
  const valueDepth = tensors.v.shape[3] as number;
  const capacity = tensors.keyCache.shape[2] as number;
  const shapes = Object.entries(tensors).map(([n, t]) => `${n} ${describeShape(t.shape)}`).join(', ');
  const expect = (name: keyof typeof tensors, shape: number[]) => {
    if (!tf.util.arraysEqual(tensors[name].shape, shape)) {
      fail(OP, `${name} must have shape ${layouts[name]} = ${describeShape(shape)}: ${shapes}`);
    }
  };
  if (heads < 1 || kvHeads < 1 || heads % kvHeads !== 0) {
    fail(OP, `the query heads H = ${heads} must be a positive multiple of the key/value heads Hkv = ${kvHeads}: ${shapes}`);
  }
  if (depth < 1) fail(OP, `the head dimension D must be at least 1: ${shapes}`);
  expect('k', [batch, kvHeads, newTokens, depth]);
  expect('v', [batch, kvHeads, newTokens, valueDepth]);
  expect('keyCache', [batch, kvHeads, capacity, depth]);
  expect('valueCache', [batch, kvHeads, capacity, valueDepth]);
  requireElementCount(OP, 'the result', [batch, heads, newTokens, valueDepth], 'B*H*N*Dv');
  const scale = options.scale === undefined ? 1 / Math.sqrt(depth) : requireFiniteNumber(OP, 'options.scale', options.scale);
  const lengths = validateCacheLengths(OP, cache.pastLengths, options.newLengths, batch, newTokens, capacity);
  const attrs: KvCacheAttentionAttrs = {scale, precision};
  try {
    const [out, keyCache, valueCache, next] = runOp('AttentionWithKVCache', {
      q: tensors.q, k: tensors.k, v: tensors.v, keyCache: tensors.keyCache, valueCache: tensors.valueCache,
      pastLengths: lengths.pastLengths, newLengths: lengths.newLengths,
    }, attrs);
    return {out: out as tf.Tensor4D, keyCache: keyCache as tf.Tensor4D, valueCache: valueCache as tf.Tensor4D,
      lengths: next as tf.Tensor1D};
  } finally {
    if (lengths.ownsNewLengths) lengths.newLengths.dispose();
  }
}
