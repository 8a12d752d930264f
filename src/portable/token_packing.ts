/**
 * Padding removal: the real tokens of a [B, S, E] batch packed into [N, E]
 * rows (N = number of real tokens), sequence by sequence, in order. Packed
 * sequence b occupies rows seqStarts[b] .. seqStarts[b + 1] - 1.
 */
export interface TokenPacking {
  batch: number;
  seq: number;
  /** Row index (b * S + s) in the padded batch of each packed row. */
  sourceRows: Int32Array;
  seqStarts: Int32Array;
  tokens: number;
}

/** `keyPadding` [B, S], nonzero = real token; null = every token is real. */
export function planPacking(batch: number, seq: number, keyPadding: ArrayLike<number> | null): TokenPacking {
  const seqStarts = new Int32Array(batch + 1);
  const rows: number[] = [];
  for (let b = 0; b < batch; b++) {
    seqStarts[b] = rows.length;
    for (let s = 0; s < seq; s++) {
      if (keyPadding === null || keyPadding[b * seq + s] !== 0) rows.push(b * seq + s);
    }
  }
  seqStarts[batch] = rows.length;
  return {batch, seq, sourceRows: Int32Array.from(rows), seqStarts, tokens: rows.length};
}

export function packRows(x: Float32Array, width: number, plan: TokenPacking): Float32Array {
  const packed = new Float32Array(plan.tokens * width);
  for (let r = 0; r < plan.tokens; r++) {
    const src = plan.sourceRows[r] * width;
    packed.set(x.subarray(src, src + width), r * width);
  }
  return packed;
}

/** Scatters packed rows back into a zero-filled [B, S, width] array: padded rows stay 0. */
export function unpackRows(packed: Float32Array, width: number, plan: TokenPacking): Float32Array {
  const out = new Float32Array(plan.batch * plan.seq * width);
  for (let r = 0; r < plan.tokens; r++) {
    out.set(packed.subarray(r * width, (r + 1) * width), plan.sourceRows[r] * width);
  }
  return out;
}
