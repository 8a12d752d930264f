/**
 * RMSNorm over the last axis, as T5, Llama and Mistral compute it in float32:
 * x / sqrt(mean(x²) + epsilon) · gamma (no mean subtraction, no bias).
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOpResult} from '../dispatch/dispatch';
import {RmsNormAttrs} from '../op_table';
import {describeShape, describeValue, fail, requireFiniteNumber, requireFloat32, requireFloatShape, requireKnownKeys,
  requireTensor} from './validate';

export interface RmsNormOptions {
  /** Added to the mean of squares; default 1e-6. */
  epsilon?: number;
}

const OP = 'rmsNorm';

export function rmsNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, options: RmsNormOptions = {}): T {
  const xt = requireTensor(OP, 'x', x);
  requireFloat32(OP, 'x', xt);
  if (xt.rank < 1 || xt.shape[xt.rank - 1] < 1) {
    fail(OP, `x must have a last axis of at least one element, got shape ${describeShape(xt.shape)}`);
  }
  const width = xt.shape[xt.rank - 1];
  const g = requireFloatShape(OP, 'gamma', gamma, [width], '[W]');
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['epsilon']);
  const epsilon = options.epsilon === undefined ? 1e-6 : requireFiniteNumber(OP, 'options.epsilon', options.epsilon);
  if (epsilon < 0) fail(OP, `options.epsilon must not be negative, got ${epsilon}`);
  const attrs: RmsNormAttrs = {epsilon};
  return tf.tidy(() => runOpResult<T>('RmsNorm', {x: xt, gamma: g}, attrs));
}
