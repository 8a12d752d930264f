/**
 * Recompute-based attention backward for one (batch, head) pair. Scores are
 * recomputed from q and k and turned into probabilities with the forward's
 * log-sum-exp, so nothing of size [Sq, Sk] is stored:
 *   P = exp(S - lse), dV += Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP - rowsum(dO ∘ O)),
 *   dQ = scale · dS K, dK += scale · dSᵀ Q, dMask += dS (additive masks).
 */
import {HeadProblem, MatrixView} from './attention_views';
import {maskedScore, visibleKeyEnd} from './flash_attention_forward';

/** A float64 accumulator addressed like a matrix (several query heads may add into one kv head). */
export interface AccumulatorView {
  values: Float64Array;
  offset: number;
  rowStride: number;
}

/** Accumulates dS into the additive mask's own (possibly broadcast) shape. */
export interface MaskGradView {
  values: Float64Array;
  offset: number;
  rowStride: number;
  colStride: number;
}

export interface BackwardOperands {
  q: MatrixView; k: MatrixView; v: MatrixView; out: MatrixView; dOut: MatrixView;
  lse: Float32Array; lseOffset: number;
  dq: MatrixView;
  dk: AccumulatorView;
  dv: AccumulatorView;
  dMask: MaskGradView | null;
}

export function attentionBackwardHead(p: HeadProblem, o: BackwardOperands, dqRow: Float64Array): void {
  const {depth, valueDepth, scale} = p;
  const qv = o.q.values, kv = o.k.values, vv = o.v.values, ov = o.out.values, dov = o.dOut.values;
  const dkv = o.dk.values, dvv = o.dv.values, dqv = o.dq.values;
  for (let i = 0; i < p.querySeq; i++) {
    const qBase = o.q.offset + i * o.q.rowStride;
    const doBase = o.dOut.offset + i * o.dOut.rowStride;
    const dqBase = o.dq.offset + i * o.dq.rowStride;
    const rowLse = o.lse[o.lseOffset + i];
    dqRow.fill(0, 0, depth);
    if (rowLse !== -Infinity) {
      // rowsum(dO ∘ O): the softmax Jacobian's correction term for this row.
      const oBase = o.out.offset + i * o.out.rowStride;
      let rowDot = 0;
      for (let d = 0; d < valueDepth; d++) rowDot += dov[doBase + d] * ov[oBase + d];
      const keyEnd = visibleKeyEnd(p, i);
      for (let j = 0; j < keyEnd; j++) {
        const s = maskedScore(p, o.q, o.k, i, j);
        if (s === -Infinity) continue;
        const prob = Math.exp(s - rowLse);
        const vBase = o.v.offset + j * o.v.rowStride;
        const dvBase = o.dv.offset + j * o.dv.rowStride;
        let dProb = 0;
        for (let d = 0; d < valueDepth; d++) {
          dvv[dvBase + d] += prob * dov[doBase + d];
          dProb += dov[doBase + d] * vv[vBase + d];
        }
        const dScore = prob * (dProb - rowDot);
        const kBase = o.k.offset + j * o.k.rowStride;
        const dkBase = o.dk.offset + j * o.dk.rowStride;
        const dScaled = dScore * scale;
        for (let d = 0; d < depth; d++) {
          dqRow[d] += dScaled * kv[kBase + d];
          dkv[dkBase + d] += dScaled * qv[qBase + d];
        }
        const dm = o.dMask;
        if (dm !== null) dm.values[dm.offset + i * dm.rowStride + j * dm.colStride] += dScore;
      }
    }
    for (let d = 0; d < depth; d++) dqv[dqBase + d] = dqRow[d];
  }
}
