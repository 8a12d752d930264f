/** Scalar activations of the feed-forward blocks, matching tfjs/PyTorch definitions. */
import {DecoderActivation} from '../op_table';

/**
 * erf via the complementary error function's Chebyshev-fitted form
 * (fractional error below 1.2e-7 for every x, far below float32 needs).
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const poly = -z * z - 1.26551223 +
      t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
      t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(poly);
  return x >= 0 ? 1 - erfc : erfc - 1;
}

const SQRT_HALF = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function gelu(x: number): number {
  return 0.5 * x * (1 + erf(x * SQRT_HALF));
}

export function geluTanh(x: number): number {
  return 0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

export function relu(x: number): number {
  // Written so NaN stays NaN (Math.max(0, NaN) would too, but this is explicit).
  return x < 0 ? 0 : x;
}

/** x · sigmoid(x) (SwiGLU's gate). */
export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

/** Every activation name of the encoder ops is also a decoder activation. */
export function activationFunction(name: DecoderActivation): (x: number) => number {
  switch (name) {
    case 'gelu': return gelu;
    case 'gelu_tanh': return geluTanh;
    case 'relu': return relu;
    case 'silu': return silu;
  }
}
