/**
 * Dense row-major matrix product with a fused epilogue, in plain TypeScript:
 *   C[i, j] = act(sum_k A[i, k] · B[k, j] + bias[j]) + residual[i, j]
 * A is [rows, inner] (contiguous), B is [inner, cols] (contiguous, the
 * Keras/tfjs Dense layout), C may be a column slice of a wider matrix.
 * Rows are accumulated in float64 in i-k-j order so B is read along rows.
 */

export interface GemmOutput {
  values: Float32Array;
  offset: number;
  rowStride: number;
}

export interface GemmEpilogue {
  bias?: Float32Array;
  activation?: (x: number) => number;
  /** Added after the activation; same layout as the output. */
  residual?: Float32Array;
}

export function gemm(
    a: Float32Array, rows: number, inner: number, b: Float32Array, cols: number, c: GemmOutput,
    epilogue: GemmEpilogue = {}, rowAcc: Float64Array = new Float64Array(cols)): void {
  const {bias, activation, residual} = epilogue;
  const cv = c.values;
  for (let i = 0; i < rows; i++) {
    rowAcc.fill(0, 0, cols);
    const aBase = i * inner;
    for (let k = 0; k < inner; k++) {
      const aik = a[aBase + k];
      if (aik === 0) continue;
      const bBase = k * cols;
      for (let j = 0; j < cols; j++) rowAcc[j] += aik * b[bBase + j];
    }
    const cBase = c.offset + i * c.rowStride;
    for (let j = 0; j < cols; j++) {
      let value = rowAcc[j];
      if (bias !== undefined) value += bias[j];
      if (activation !== undefined) value = activation(value);
      if (residual !== undefined) value += residual[cBase + j];
      cv[cBase + j] = value;
    }
  }
}
