/**
 * Rotary position embedding of `heads` heads in place: head h's features at
 * values[offset + h * headStride + ...]. Pairs (i, i + half) ("rotate half")
 * or (2i, 2i + 1) (interleaved) rotate by the tables' row `position`
 * (cos/sin [rows, half]).
 */
export function rotateHeads(
    values: Float32Array, offset: number, heads: number, headStride: number, position: number, half: number,
    cos: Float32Array, sin: Float32Array, interleaved: boolean): void {
  const row = position * half;
  for (let h = 0; h < heads; h++) {
    const base = offset + h * headStride;
    for (let i = 0; i < half; i++) {
      const ia = interleaved ? base + 2 * i : base + i;
      const ib = interleaved ? ia + 1 : base + i + half;
      const a = values[ia], b = values[ib], c = cos[row + i], s = sin[row + i];
      values[ia] = a * c - b * s;
      values[ib] = b * c + a * s;
    }
  }
}
