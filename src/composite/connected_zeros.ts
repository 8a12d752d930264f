import * as tf from '@tensorflow/tfjs-core';

/**
 * Zeros of `shape` for a result that depends on none of `inputs` (an empty
 * problem: attention over no keys, a batch of 0), which tfjs nevertheless
 * differentiates to zero gradients for each input. tf.zeros alone would leave
 * the result unconnected, and tf.grads throws on an unconnected result.
 */
export function connectedZeros(shape: number[], inputs: tf.Tensor[]): tf.Tensor {
  const zeros = tf.customGrad((...args: unknown[]) => {
    void args;
    return {value: tf.zeros(shape), gradFunc: () => inputs.map(x => tf.zerosLike(x))};
  });
  return zeros(...inputs);
}
