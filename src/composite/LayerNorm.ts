/** LayerNorm over the last axis as plain tfjs ops (biased variance, as every framework's LayerNorm). */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {LayerNormAttrs} from '../op_table';

export function layerNormOf(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.tidy(() => {
    const {mean, variance} = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, epsilon))), gamma), beta);
  });
}

export const compositeLayerNorm: CompositeFunc = (inputs, attrs) =>
  layerNormOf(inputs.x, inputs.gamma, inputs.beta, (attrs as LayerNormAttrs).epsilon);
