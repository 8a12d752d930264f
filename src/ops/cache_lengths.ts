/**
 * The per-sequence lengths of a key/value cache, checked against its capacity
 * before anything is written: pastLengths [B] (rows already cached) and
 * newLengths [B] (new tokens of this call, at most N each), int32. Their values
 * are read (a few integers) so that an overflow is an error naming the
 * sequence, never a silent wrap or a write past the cache.
 */
import * as tf from '@tensorflow/tfjs-core';
import {describeShape, fail, requireTensor} from './validate';

export interface CacheLengths {
  pastLengths: tf.Tensor1D;
  newLengths: tf.Tensor1D;
  past: Int32Array;
  fresh: Int32Array;
}

function int32Vector(op: string, name: string, x: unknown, batch: number): tf.Tensor1D {
  const t = requireTensor(op, name, x);
  if (t.dtype !== 'int32') fail(op, `${name} must have dtype int32, got ${t.dtype}`);
  if (t.rank !== 1 || t.shape[0] !== batch) fail(op, `${name} must have shape [B] = [${batch}], got ${describeShape(t.shape)}`);
  return t as tf.Tensor1D;
}

/**
 * newLengths defaults to N for every sequence (a fresh tensor the caller must
 * dispose: `ownsNewLengths`).
 */
export function validateCacheLengths(op: string, pastLengths: unknown, newLengths: unknown, batch: number,
    newTokens: number, capacity: number): CacheLengths & {ownsNewLengths: boolean} {
  const past = int32Vector(op, 'pastLengths', pastLengths, batch);
  const owns = newLengths == null;
  const fresh = owns ? tf.fill([batch], newTokens, 'int32') as tf.Tensor1D : int32Vector(op, 'options.newLengths', newLengths, batch);
  const pastValues = past.dataSync() as Int32Array;
  const freshValues = fresh.dataSync() as Int32Array;
  try {
    for (let b = 0; b < batch; b++) {
      if (pastValues[b] < 0) fail(op, `pastLengths[${b}] = ${pastValues[b]} is negative`);
      if (freshValues[b] < 0 || freshValues[b] > newTokens) {
        fail(op, `options.newLengths[${b}] = ${freshValues[b]} is outside [0, N = ${newTokens}]`);
      }
      if (pastValues[b] + freshValues[b] > capacity) {
        fail(op, `sequence ${b} would hold pastLengths[${b}] + newLengths[${b}] = ${pastValues[b]} + ${freshValues[b]} = ${
            pastValues[b] + freshValues[b]} rows, more than the cache capacity C = ${capacity}`);
      }
    }
  } catch (e) {
    if (owns) fresh.dispose();
    throw e;
  }
  return {pastLengths: past, newLengths: fresh, past: pastValues, fresh: freshValues, ownsNewLengths: owns};
}
