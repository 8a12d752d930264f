/** Row-wise LayerNorm with biased variance: (x - mean) / sqrt(var + eps) · gamma + beta. */
export function layerNormRows(
    x: Float32Array, rows: number, width: number, gamma: Float32Array, beta: Float32Array, eps: number,
    out: Float32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = r * width;
    let mean = 0;
    for (let j = 0; j < width; j++) mean += x[base + j];
    mean /= width;
    // Two passes: the variance of values far from zero stays accurate.
    let variance = 0;
    for (let j = 0; j < width; j++) {
      const d = x[base + j] - mean;
      variance += d * d;
    }
    variance /= width;
    const inv = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < width; j++) out[base + j] = (x[base + j] - mean) * inv * gamma[j] + beta[j];
  }
}
