/**
 * The one place where numerical tolerances are stated.
 *
 * float32 parity: |actual - expected| <= RTOL·|expected| + ATOL·max(1, max|expected|)
 * with RTOL = ATOL = 1e-5, i.e. about 1e-5 relative to the tensor's scale.
 * NaN must match NaN and ±Infinity must match exactly.
 */
import * as tf from '@tensorflow/tfjs-core';

export const FP32 = {rtol: 1e-5, atol: 1e-5};

export interface Tolerance {
  rtol: number;
  atol: number;
}

export function closeness(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance = FP32):
    {ok: boolean; worst: number; index: number; detail: string} {
  if (actual.length !== expected.length) {
    return {ok: false, worst: Infinity, index: -1, detail: `length ${actual.length} vs ${expected.length}`};
  }
  let scale = 1;
  for (let i = 0; i < expected.length; i++) {
    if (Number.isFinite(expected[i])) scale = Math.max(scale, Math.abs(expected[i]));
  }
  let worst = 0, index = -1;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e) || Number.isNaN(a) || !Number.isFinite(e) || !Number.isFinite(a)) {
      if (Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e))) continue;
      return {ok: false, worst: Infinity, index: i, detail: `element ${i}: ${a} vs ${e}`};
    }
    const excess = Math.abs(a - e) / (tol.rtol * Math.abs(e) + tol.atol * scale);
    if (excess > worst) {
      worst = excess;
      index = i;
    }
  }
  return {
    ok: worst <= 1, worst, index,
    detail: index < 0 ? 'identical' : `element ${index}: ${actual[index]} vs ${expected[index]} (${worst.toFixed(2)}× tolerance)`,
  };
}

export function expectClose(actual: tf.Tensor, expected: tf.Tensor, tol: Tolerance = FP32, label = ''): void {
  expect(actual.shape).toEqual(expected.shape);
  const result = closeness(actual.dataSync(), expected.dataSync(), tol);
  if (!result.ok) throw new Error(`${label ? label + ': ' : ''}not within tolerance: ${result.detail}`);
}
