/** RMSNorm over the last axis as plain tfjs ops: x / sqrt(mean(x²) + epsilon) · gamma. */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {RmsNormAttrs} from '../op_table';

export function rmsNormOf(x: tf.Tensor, gamma: tf.Tensor, epsilon: number): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), epsilon))), gamma));
}

export const compositeRmsNorm: CompositeFunc = (inputs, attrs) =>
  rmsNormOf(inputs.x, inputs.gamma, (attrs as RmsNormAttrs).epsilon);
