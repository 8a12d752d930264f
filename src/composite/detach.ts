import * as tf from '@tensorflow/tfjs-core';

/**
 * The same data as `t` under a new tensor that the gradient tape does not
 * connect to `t` (no copy: the data is shared and reference-counted). tfjs
 * has no stopGradient, and comparison ops have no gradients, so a condition
 * computed from a differentiable tensor must be detached first.
 */
export function detach(t: tf.Tensor): tf.Tensor {
  return tf.engine().makeTensorFromTensorInfo({dataId: t.dataId, shape: t.shape, dtype: t.dtype});
}
