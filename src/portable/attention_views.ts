/**
 * Strided views over flat float arrays, so one attention routine serves both
 * the [B, H, S, D] tensors of scaledDotProductAttention and the packed
 * [tokens, 3E] QKV rows inside the encoder layer.
 */

/** Row i, element d of a matrix lives at values[offset + i * rowStride + d]. */
export interface MatrixView {
  values: Float32Array;
  offset: number;
  rowStride: number;
}

/**
 * A [Sq, Sk] slice of an attention mask broadcast through strides (0 = broadcast).
 * With `positions` (packed sequences, padding removed), query i and key j read
 * the mask at their original positions positions[i] and positions[j].
 */
export interface MaskView {
  kind: 'bool' | 'additive';
  values: Float32Array | Uint8Array;
  offset: number;
  rowStride: number;
  colStride: number;
  positions?: ArrayLike<number>;
}

/** Which keys exist: values[offset + j] !== 0 means key j is a real token. */
export interface KeyValidity {
  values: ArrayLike<number>;
  offset: number;
}

export interface HeadProblem {
  querySeq: number;
  keySeq: number;
  depth: number;
  valueDepth: number;
  scale: number;
  /** When causal, key j is visible to query i iff j <= i + causalShift; null = not causal. */
  causalShift: number | null;
  mask: MaskView | null;
  keyValidity: KeyValidity | null;
}

/**
 * Element strides of a mask broadcast to `target` (right-aligned numpy
 * broadcasting): dims of size 1 get stride 0, so one index formula serves
 * every mask shape.
 */
export function broadcastStrides(shape: readonly number[], target: readonly number[]): number[] {
  const strides = new Array<number>(target.length).fill(0);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const t = target.length - shape.length + i;
    strides[t] = shape[i] === 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}
