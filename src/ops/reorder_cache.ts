/**
 * Beam search's cache step: after choosing which beams survive, the batch rows
 * of a decoder's key/value caches are reordered so that row b continues the
 * sequence that was row sourceRows[b] (repeats allowed: a beam may split in
 * two). On `cpu` (and `tensorflow` where the op library has the kernel) the
 * rows move in place, with a temporary of at most one layer's used rows, so a
 * step never copies the whole cache; the composite gathers (new tensors).
 *
 * The cross caches and the source mask are not reordered: the beams of one
 * source share the same encoder rows, so sourceRows must keep each beam within
 * its source's rows (the generator's job; not checked). They are returned as
 * the same tensors.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOp} from '../dispatch/dispatch';
import type {DecoderCache} from './transformer_decoder_stack';
import {describeShape, describeValue, fail, requireFloat32, requireRank, requireTensor} from './validate';

const OP = 'reorderCache';

/**
 * New row b of cache.keyCache/valueCache/pastLengths = old row sourceRows[b]. The cache's
 * keyCache and valueCache are donated (use the returned ones; dispose the old tensor objects as
 * after a decoder step); the returned pastLengths is a new tensor (the old one is left as it was).
 */
export function reorderCache(cache: DecoderCache, sourceRows: tf.Tensor1D): DecoderCache {
  if (cache == null || typeof cache !== 'object') fail(OP, `cache must be {keyCache, valueCache, pastLengths}, got ${describeValue(cache)}`);
  const keyCache = requireTensor(OP, 'cache.keyCache', cache.keyCache);
  requireRank(OP, 'cache.keyCache', keyCache, 5, '[layers, B, Hkv, C, D]');
  requireFloat32(OP, 'cache.keyCache', keyCache);
  const valueCache = requireTensor(OP, 'cache.valueCache', cache.valueCache);
  requireFloat32(OP, 'cache.valueCache', valueCache);
  if (!tf.util.arraysEqual(valueCache.shape, keyCache.shape)) {
    fail(OP, `cache.valueCache must have the shape of cache.keyCache ${describeShape(keyCache.shape)}, got ${describeShape(valueCache.shape)}`);
  }
  const [, batch, , capacity] = keyCache.shape as number[];
  const lengths = requireTensor(OP, 'cache.pastLengths', cache.pastLengths);
  if (lengths.dtype !== 'int32') fail(OP, `cache.pastLengths must have dtype int32, got ${lengths.dtype}`);
  if (!tf.util.arraysEqual(lengths.shape, [batch])) fail(OP, `cache.pastLengths must have shape [B] = [${batch}], got ${describeShape(lengths.shape)}`);
  const rows = requireTensor(OP, 'sourceRows', sourceRows);
  if (rows.dtype !== 'int32') fail(OP, `sourceRows must have dtype int32, got ${rows.dtype}`);
  if (!tf.util.arraysEqual(rows.shape, [batch])) fail(OP, `sourceRows must have shape [B] = [${batch}], got ${describeShape(rows.shape)}`);
  // Values are read (B integers): a row outside the batch would read or write outside the cache.
  const rowValues = rows.dataSync(), lengthValues = lengths.dataSync();
  for (let b = 0; b < batch; b++) {
    if (!(rowValues[b] >= 0 && rowValues[b] < batch)) fail(OP, `sourceRows[${b}] = ${rowValues[b]} is outside [0, B = ${batch})`);
    if (!(lengthValues[b] >= 0 && lengthValues[b] <= capacity)) {
      fail(OP, `cache.pastLengths[${b}] = ${lengthValues[b]} is outside [0, C = ${capacity}]`);
    }
  }
  const [keys, values, next] = runOp('ReorderCache', {keyCache, valueCache, lengths, sourceRows: rows}, {});
  return {...cache, keyCache: keys, valueCache: values, pastLengths: next as tf.Tensor1D};
}
