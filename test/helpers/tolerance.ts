/**
 * The one place where numerical tolerances are stated.
 *
 * float32 parity: |actual - expected| <= RTOL·|expected| + ATOL·max(1, max|expected|)
 * with RTOL = ATOL = 1e-5, i.e. about 1e-5 relative to the tensor's scale.
 * NaN must match NaN and ±Infinity must match exactly.
 *
 * Gradients: gradTolerance(terms), with RTOL = 1e-5 and ATOL = 2e-5·sqrt(max(1, terms/64)),
 * where `terms` is how many products are summed into one gradient entry (Sk for dq,
 * Sq·H/Hkv for dk and dv, the broadcast factor for a mask). Such sums cancel
 * (the softmax Jacobian subtracts rowsum(dO ∘ O)), so when the true value is
 * near 0 the float32 oracle's own error grows like the square root of the
 * number of terms, not with the result.
 */
import * as tf from '@tensorflow/tfjs-core';

export const FP32 = {rtol: 1e-5, atol: 1e-5};

/** Tolerance for a gradient entry that sums `terms` products (see above). */
export function gradTolerance(terms: number): Tolerance {
  return {rtol: 1e-5, atol: 2e-5 * Math.sqrt(Math.max(1, terms / 64))};
}

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
