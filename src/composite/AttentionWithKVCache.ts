/**
 * AttentionWithKVCache as plain tfjs ops, for backends without the fused
 * kernel. tfjs tensors are immutable there, so the caches come back as new
 * tensors (each step copies them: the fused `cpu` and `tensorflow` kernels
 * write in place instead). Attention runs over the whole capacity with a mask
 * that shows query i of sequence b the rows [0, past_b + i] only.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {runOpResult} from '../dispatch/dispatch';
import {KvCacheAttentionAttrs, SdpaAttrs} from '../op_table';

/** cache [B, Hkv, C, X] with rows [past_b, past_b + new_b) of sequence b replaced by new [B, Hkv, N, X]'s first rows. */
export function appendRows(cache: tf.Tensor, rows: tf.Tensor, past: ArrayLike<number>, fresh: ArrayLike<number>): tf.Tensor {
  return tf.tidy(() => {
    const [batch, kvHeads, capacity, width] = cache.shape as number[];
    const sequences: tf.Tensor[] = [];
    for (let b = 0; b < batch; b++) {
      const parts: tf.Tensor[] = [];
      const p = past[b], n = fresh[b];
      if (p > 0) parts.push(tf.slice(cache, [b, 0, 0, 0], [1, kvHeads, p, width]));
      if (n > 0) parts.push(tf.slice(rows, [b, 0, 0, 0], [1, kvHeads, n, width]));
      if (p + n < capacity) parts.push(tf.slice(cache, [b, 0, p + n, 0], [1, kvHeads, capacity - p - n, width]));
      sequences.push(parts.length === 1 ? parts[0] : tf.concat(parts, 2));
    }
    return batch === 0 ? tf.clone(cache) : tf.concat(sequences, 0);
  });
}

/** [B, 1, N, C] bool: query i of sequence b sees cache row j iff i < new_b and j <= past_b + i. */
export function cacheVisibility(past: ArrayLike<number>, fresh: ArrayLike<number>, newTokens: number,
    capacity: number): tf.Tensor {
  const batch = past.length;
  const visible = new Uint8Array(batch * newTokens * capacity);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < fresh[b]; i++) {
      const end = Math.min(capacity, past[b] + i + 1);
      visible.fill(1, (b * newTokens + i) * capacity, (b * newTokens + i) * capacity + end);
    }
  }
  return tf.tensor4d(visible, [batch, 1, newTokens, capacity], 'bool');
}

export const compositeAttentionWithKVCache: CompositeFunc = (inputs, attrs) => {
  const a = attrs as KvCacheAttentionAttrs;
  const past = inputs.pastLengths.dataSync();
  const fresh = inputs.newLengths.dataSync();
  return tf.tidy(() => {
    const keyCache = appendRows(inputs.keyCache, inputs.k, past, fresh);
    const valueCache = appendRows(inputs.valueCache, inputs.v, past, fresh);
    const [, , newTokens] = inputs.q.shape as number[];
    const capacity = (keyCache.shape as number[])[2];
    const out = runOpResult('ScaledDotProductAttention', {
      q: inputs.q, k: keyCache, v: valueCache, attnMask: cacheVisibility(past, fresh, newTokens, capacity),
      keyPaddingMask: tf.zeros([0]),
    }, {
      scale: a.scale, isCausal: false, maskKind: 'bool', hasKeyPaddingMask: false, precision: a.precision,
    } satisfies SdpaAttrs);
    return [out, keyCache, valueCache, tf.add(inputs.pastLengths, inputs.newLengths)];
  });
};
