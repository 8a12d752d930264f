/**
 * The key/value caches of AttentionWithKVCache and TransformerDecoderStack on
 * `tensorflow`: the op library's kernels write the new rows into the input
 * cache's TensorFlow buffer and return that buffer as the output (no copy of
 * the past per step). When the cache's data is shared at the tfjs level (a
 * clone: another tensor with its dataId) or the same tensor is passed as both
 * caches, writing would change the other tensor too: the cache is copied first
 * (TensorFlow's DeepCopy), once, and the kernel writes into the copy. A
 * reshape of the cache made before the call shares its TensorFlow buffer under
 * another dataId, which tfjs-node does not expose: it sees the update (the
 * input caches are donated; use the returned ones).
 */
import type {Tensor, TensorInfo} from '@tensorflow/tfjs-core';
import {NodeBackend, OpAttrs} from './node_backend';

export interface DonatedCaches {
  keyCache: TensorInfo;
  valueCache: TensorInfo;
  /** Copies made here, to dispose once the op has run (its outputs keep the buffers alive). */
  copies: Tensor[];
}

/** NodeJSKernelBackend.refCount: how many tfjs tensors share a dataId (a clone shares its source's). */
type RefCounting = {refCount?(dataId: object): number};

export function donateCaches(nb: NodeBackend, keyCache: TensorInfo, valueCache: TensorInfo): DonatedCaches {
  const copies: Tensor[] = [];
  const refCount = (cache: TensorInfo) => (nb as NodeBackend & RefCounting).refCount?.(cache.dataId) ?? 1;
  const own = (cache: TensorInfo, shared: boolean): TensorInfo => {
    if (!shared && refCount(cache) <= 1) return cache;
    const copy = nb.executeSingleOutput('DeepCopy', new OpAttrs(nb).dtype('T', 'float32').build(), [cache]);
    copies.push(copy);
    return copy;
  };
  const keys = own(keyCache, false);
  const values = own(valueCache, valueCache.dataId === keyCache.dataId);
  return {keyCache: keys, valueCache: values, copies};
}
