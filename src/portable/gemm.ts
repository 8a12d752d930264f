/**
 * Dense row-major matrix product with a fused epilogue, in plain TypeScript:
 *   C[i, j] = act(sum_k A[i, k] · B[k, j] + bias[j]) + residual[i, j]
 * A is [rows, inner] (contiguous), B is [inner, cols] (contiguous, the
 * Keras/tfjs Dense layout), C may be a column slice of a wider matrix.
 *
 * Blocking (measured on V8, about 2.5× the naive i-k-j loop): eight rows of
 * A share each load of B, and columns go in tiles of COL_TILE so the eight
 * float64 accumulator rows stay in L1.
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

const ROW_BLOCK = 8;
const COL_TILE = 256;

/** Accumulates eight rows of A times the column tile [j0, j0 + width) of B into acc (ROW_BLOCK × COL_TILE). */
function accumulateEightRows(
    a: Float32Array, row: number, inner: number, b: Float32Array, cols: number, j0: number, width: number,
    acc: Float64Array): void {
  const T = COL_TILE;
  const r0 = row * inner;
  for (let k = 0; k < inner; k++) {
    const a0 = a[r0 + k], a1 = a[r0 + inner + k], a2 = a[r0 + 2 * inner + k], a3 = a[r0 + 3 * inner + k];
    const a4 = a[r0 + 4 * inner + k], a5 = a[r0 + 5 * inner + k], a6 = a[r0 + 6 * inner + k];
    const a7 = a[r0 + 7 * inner + k];
    const bBase = k * cols + j0;
    for (let j = 0; j < width; j++) {
      const bv = b[bBase + j];
      acc[j] += a0 * bv;
      acc[T + j] += a1 * bv;
      acc[2 * T + j] += a2 * bv;
      acc[3 * T + j] += a3 * bv;
      acc[4 * T + j] += a4 * bv;
      acc[5 * T + j] += a5 * bv;
      acc[6 * T + j] += a6 * bv;
      acc[7 * T + j] += a7 * bv;
    }
  }
}

function accumulateOneRow(
    a: Float32Array, row: number, inner: number, b: Float32Array, cols: number, j0: number, width: number,
    acc: Float64Array): void {
  const r0 = row * inner;
  for (let k = 0; k < inner; k++) {
    const ak = a[r0 + k];
    const bBase = k * cols + j0;
    for (let j = 0; j < width; j++) acc[j] += ak * b[bBase + j];
  }
}

export function gemm(
    a: Float32Array, rows: number, inner: number, b: Float32Array, cols: number, c: GemmOutput,
    epilogue: GemmEpilogue = {}): void {
  const {bias, activation, residual} = epilogue;
  const cv = c.values;
  const acc = new Float64Array(ROW_BLOCK * COL_TILE);
  for (let j0 = 0; j0 < cols; j0 += COL_TILE) {
    const width = Math.min(COL_TILE, cols - j0);
    for (let i = 0; i < rows;) {
      const block = rows - i >= ROW_BLOCK ? ROW_BLOCK : 1;
      acc.fill(0);
      if (block === ROW_BLOCK) accumulateEightRows(a, i, inner, b, cols, j0, width, acc);
      else accumulateOneRow(a, i, inner, b, cols, j0, width, acc);
      for (let r = 0; r < block; r++) {
        const cBase = c.offset + (i + r) * c.rowStride + j0;
        for (let j = 0; j < width; j++) {
          let value = acc[r * COL_TILE + j];
          if (bias !== undefined) value += bias[j0 + j];
          if (activation !== undefined) value = activation(value);
          if (residual !== undefined) value += residual[cBase + j];
          cv[cBase + j] = value;
        }
      }
      i += block;
    }
  }
}

/**
 * C[i, j] = act(sum_k A[i, k] · W[j, k] + bias[j]) + residual[i, j] for W stored
 * transposed, [cols, inner] (an LM head tied to the word embeddings): one dot
 * product of contiguous rows per output, accumulated in float64.
 */
export function gemmTransposed(
    a: Float32Array, rows: number, inner: number, w: Float32Array, cols: number, c: GemmOutput,
    epilogue: GemmEpilogue = {}): void {
  const {bias, activation, residual} = epilogue;
  for (let i = 0; i < rows; i++) {
    const aBase = i * inner, cBase = c.offset + i * c.rowStride;
    for (let j = 0; j < cols; j++) {
      const wBase = j * inner;
      let value = 0;
      for (let k = 0; k < inner; k++) value += a[aBase + k] * w[wBase + k];
      if (bias !== undefined) value += bias[j];
      if (activation !== undefined) value = activation(value);
      if (residual !== undefined) value += residual[cBase + j];
      c.values[cBase + j] = value;
    }
  }
}
