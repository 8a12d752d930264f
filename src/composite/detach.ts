import * as tf from '@tensorflow/tfjs-core';

/**
 * The same data as `t` (a tensor just produced on the active backend) under a
 * new tensor that the gradient tape does not connect to `t`. tfjs has no
 * stopGradient, and comparison ops have no gradients, so a condition computed
 * from a differentiable tensor must be detached first. No copy is made: the
 * new tensor takes its own reference on the data, exactly as tfjs's engine
 * does when it shares data between tensors, so either may be disposed first.
 */
export function detach(t: tf.Tensor): tf.Tensor {
  const engine = tf.engine();
  const copy = engine.makeTensorFromTensorInfo({dataId: t.dataId, shape: t.shape, dtype: t.dtype});
  engine.backend.incRef(t.dataId);
  return copy;
}
