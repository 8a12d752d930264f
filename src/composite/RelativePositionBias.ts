/** RelativePositionBias as tfjs ops: distances, their buckets, the lookup, heads first. */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';

export const compositeRelativePositionBias: CompositeFunc = inputs => tf.tidy(() => {
  const [table, buckets, q, k] = [inputs['table'], inputs['bucketOfDistance'], inputs['queryPositions'], inputs['keyPositions']];
  const radius = (buckets.shape[0] - 1) / 2;
  const distance = tf.sub(tf.expandDims(k, 0), tf.expandDims(q, 1));  // [Sq, Sk]
  const index = tf.clipByValue(tf.add(distance, tf.scalar(radius, 'int32')), 0, 2 * radius);
  const bucket = tf.gather(buckets, tf.cast(index, 'int32'));  // [Sq, Sk]
  const values = tf.gather(table, bucket);  // [Sq, Sk, H]
  return tf.expandDims(tf.transpose(values, [2, 0, 1]), 0);
});
