/**
 * LayerNorm over the last axis, as one op: (x − mean) / sqrt(var + epsilon) ·
 * gamma + beta with the biased variance, as every framework's LayerNorm. The
 * rewriting pass replaces the converter's ten-op decomposition by it; on
 * `cpu` it is one pass over the rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOpResult} from '../dispatch/dispatch';
import {LayerNormAttrs} from '../op_table';
import {describeShape, describeValue, fail, requireFiniteNumber, requireFloat32, requireFloatShape, requireKnownKeys,
  requireTensor} from './validate';

export interface LayerNormOptions {
  /** Added to the variance; default 1e-5. */
  epsilon?: number;
}

const OP = 'layerNorm';

export function layerNorm<T extends tf.Tensor>(x: T, gamma: tf.Tensor1D, beta: tf.Tensor1D, options: LayerNormOptions = {}): T {
  const xt = requireTensor(OP, 'x', x);
  requireFloat32(OP, 'x', xt);
  if (xt.rank < 1 || xt.shape[xt.rank - 1] < 1) {
    fail(OP, `x must have a last axis of at least one element, got shape ${describeShape(xt.shape)}`);
  }
  const width = xt.shape[xt.rank - 1];
  const g = requireFloatShape(OP, 'gamma', gamma, [width], '[W]');
  const b = requireFloatShape(OP, 'beta', beta, [width], '[W]');
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['epsilon']);
  const epsilon = options.epsilon === undefined ? 1e-5 : requireFiniteNumber(OP, 'options.epsilon', options.epsilon);
  if (epsilon < 0) fail(OP, `options.epsilon must not be negative, got ${epsilon}`);
  const attrs: LayerNormAttrs = {epsilon};
  return tf.tidy(() => runOpResult<T>('LayerNorm', {x: xt, gamma: g, beta: b}, attrs));
}
