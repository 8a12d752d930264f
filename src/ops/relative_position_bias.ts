/**
 * T5's relative position bias as one op: bias[0, h, i, j] =
 * table[bucketOfDistance[clamp(keyPositions[j] − queryPositions[i] + R, 0, 2R)], h]
 * for a bucket table [buckets, H] and the bucket of every distance −R..R
 * (bucketOfDistance [2R + 1], int32; distances beyond ±R take the end buckets).
 * The rewriting pass emits it in place of the graph's bucket arithmetic, the
 * lookup and the transpose, with bucketOfDistance evaluated from that very
 * arithmetic when it rewrites (so it is the graph's own buckets, float32
 * rounding included), for R past the distance where the buckets stop changing.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOpResult} from '../dispatch/dispatch';
import {describeShape, fail, requireFloat32, requireRank, requireTensor} from './validate';

const OP = 'relativePositionBias';

function requireInt32Vector(name: string, x: unknown): tf.Tensor1D {
  const t = requireTensor(OP, name, x);
  requireRank(OP, name, t, 1, '[n]');
  if (t.dtype !== 'int32') fail(OP, `${name} must have dtype int32, got ${t.dtype}`);
  return t as tf.Tensor1D;
}

export function relativePositionBias(table: tf.Tensor2D, bucketOfDistance: tf.Tensor1D, queryPositions: tf.Tensor1D,
                                     keyPositions: tf.Tensor1D): tf.Tensor4D {
  const t = requireTensor(OP, 'table', table);
  requireFloat32(OP, 'table', t);
  requireRank(OP, 'table', t, 2, '[buckets, H]');
  if (t.shape[0] < 1) fail(OP, `table must have at least one bucket, got shape ${describeShape(t.shape)}`);
  const buckets = requireInt32Vector('bucketOfDistance', bucketOfDistance);
  if (buckets.shape[0] % 2 !== 1) {
    fail(OP, `bucketOfDistance must have an odd length 2R + 1 (distances −R..R), got ${buckets.shape[0]}`);
  }
  const q = requireInt32Vector('queryPositions', queryPositions);
  const k = requireInt32Vector('keyPositions', keyPositions);
  return runOpResult<tf.Tensor4D>('RelativePositionBias',
      {table: t, bucketOfDistance: buckets, queryPositions: q, keyPositions: k}, {});
}
