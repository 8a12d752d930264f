/**
 * Flash-style attention forward for one (batch, head) pair, in plain
 * TypeScript. Keys are visited in tiles with an online softmax, so memory is
 * O(tile + Dv) whatever the sequence lengths: the [Sq, Sk] score matrix never
 * exists. Accumulation is in float64 (JS numbers); results are stored as
 * float32.
 */
import {HeadProblem, MatrixView} from './attention_views';

export const KEY_TILE = 64;

/** Per-call scratch, allocated once per kernel invocation and reused for every head. */
export class ForwardScratch {
  readonly scores = new Float64Array(KEY_TILE);
  readonly acc: Float64Array;
  constructor(valueDepth: number) {
    this.acc = new Float64Array(Math.max(valueDepth, 1));
  }
}

/**
 * Scaled, masked score of query row `qi` against key `j`, or -Infinity when the
 * key is hidden. NaN inputs stay NaN so they propagate to the output.
 */
export function maskedScore(p: HeadProblem, q: MatrixView, k: MatrixView, i: number, j: number): number {
  const kv = p.keyValidity;
  if (kv !== null && kv.values[kv.offset + j] === 0) return -Infinity;
  const qv = q.values, kvals = k.values;
  const qBase = q.offset + i * q.rowStride, kBase = k.offset + j * k.rowStride;
  let dot = 0;
  for (let d = 0; d < p.depth; d++) dot += qv[qBase + d] * kvals[kBase + d];
  let score = dot * p.scale;
  const m = p.mask;
  if (m !== null) {
    const pos = m.positions;
    const mv = pos === undefined ? m.values[m.offset + i * m.rowStride + j * m.colStride] :
                                   m.values[m.offset + pos[i] * m.rowStride + pos[j] * m.colStride];
    if (m.kind === 'bool') {
      if (mv === 0) return -Infinity;
    } else {
      score += mv;
    }
  }
  return score;
}

/** Number of keys query row i may see at most (causal cut-off), in [0, Sk]. */
export function visibleKeyEnd(p: HeadProblem, i: number): number {
  if (p.causalShift === null) return p.keySeq;
  return Math.max(0, Math.min(p.keySeq, i + p.causalShift + 1));
}

export function attentionForwardHead(
    p: HeadProblem, q: MatrixView, k: MatrixView, v: MatrixView, out: MatrixView,
    lse: Float32Array | null, lseOffset: number, scratch: ForwardScratch): void {
  const {valueDepth} = p;
  const scores = scratch.scores, acc = scratch.acc;
  const vv = v.values, ov = out.values;
  for (let i = 0; i < p.querySeq; i++) {
    const keyEnd = visibleKeyEnd(p, i);
    let rowMax = -Infinity;
    let denom = 0;
    acc.fill(0, 0, valueDepth);
    for (let j0 = 0; j0 < keyEnd; j0 += KEY_TILE) {
      const j1 = Math.min(j0 + KEY_TILE, keyEnd);
      let tileMax = -Infinity;
      for (let j = j0; j < j1; j++) {
        const s = maskedScore(p, q, k, i, j);
        scores[j - j0] = s;
        tileMax = Math.max(tileMax, s);  // Math.max keeps NaN, so NaN rows stay NaN.
      }
      const newMax = Math.max(rowMax, tileMax);
      if (newMax === -Infinity) continue;  // Every key so far is hidden.
      if (newMax !== rowMax) {
        const rescale = Math.exp(rowMax - newMax);
        denom *= rescale;
        for (let d = 0; d < valueDepth; d++) acc[d] *= rescale;
        rowMax = newMax;
      }
      for (let j = j0; j < j1; j++) {
        const w = Math.exp(scores[j - j0] - rowMax);
        if (w === 0) continue;
        denom += w;
        const vBase = v.offset + j * v.rowStride;
        for (let d = 0; d < valueDepth; d++) acc[d] += w * vv[vBase + d];
      }
    }
    const oBase = out.offset + i * out.rowStride;
    if (rowMax === -Infinity) {
      // No visible key: documented result is a zero row (PyTorch gives NaN).
      for (let d = 0; d < valueDepth; d++) ov[oBase + d] = 0;
      if (lse !== null) lse[lseOffset + i] = -Infinity;
    } else {
      const inv = 1 / denom;
      for (let d = 0; d < valueDepth; d++) ov[oBase + d] = acc[d] * inv;
      if (lse !== null) lse[lseOffset + i] = rowMax + Math.log(denom);
    }
  }
}
