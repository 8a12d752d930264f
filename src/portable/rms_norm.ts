/** Row-wise RMSNorm: x / sqrt(mean(x²) + eps) · gamma (out may be x). */
export function rmsNormRows(
    x: Float32Array, rows: number, width: number, gamma: Float32Array | null, eps: number, out: Float32Array,
    xOffset = 0, outOffset = 0): void {
  for (let r = 0; r < rows; r++) {
    const base = xOffset + r * width, outBase = outOffset + r * width;
    let squares = 0;
    for (let j = 0; j < width; j++) squares += x[base + j] * x[base + j];
    const inv = 1 / Math.sqrt(squares / width + eps);
    for (let j = 0; j < width; j++) out[outBase + j] = x[base + j] * inv * (gamma ? gamma[j] : 1);
  }
}
