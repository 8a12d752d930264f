/**
 * Attention of new query rows over a key/value cache, per sequence, in plain
 * TypeScript (the portable `cpu` kernels of AttentionWithKVCache and
 * TransformerDecoderStack): sequence b's query i sees cache rows
 * [0, past_b + i], query head h reads kv head floor(h / (H / Hkv)).
 */
import {HeadProblem, MatrixView} from './attention_views';
import {attentionForwardHead, ForwardScratch} from './flash_attention_forward';

export interface CacheAttention {
  batch: number;
  heads: number;
  kvHeads: number;
  depth: number;
  valueDepth: number;
  scale: number;
  past: ArrayLike<number>;
  fresh: ArrayLike<number>;
  /** Where (sequence b, query head h)'s new query rows, cached keys, values and output rows live. */
  query(b: number, h: number): MatrixView;
  keys(b: number, kvHead: number): MatrixView;
  values(b: number, kvHead: number): MatrixView;
  output(b: number, h: number): MatrixView;
  /**
   * Optional per-distance bias [H, P] (T5's relative position bias): the score of new row i (at
   * position past_b + i) against cached row j gains bias[h · P + past_b + i − j]; every position
   * must be below P.
   */
  positionBias?: {values: Float32Array; rows: number} | null;
}

export function attendOverCache(a: CacheAttention): void {
  const scratch = new ForwardScratch(a.valueDepth);
  const group = a.heads / a.kvHeads;
  for (let b = 0; b < a.batch; b++) {
    if (a.fresh[b] === 0) continue;
    const problem: HeadProblem = {
      querySeq: a.fresh[b], keySeq: a.past[b] + a.fresh[b], depth: a.depth, valueDepth: a.valueDepth,
      scale: a.scale, causalShift: a.past[b], mask: null, keyValidity: null,
    };
    const bias = a.positionBias ?? null;
    for (let h = 0; h < a.heads; h++) {
      const g = Math.floor(h / group);
      // The distance past_b + i − j as an additive mask: a diagonal walk (row stride 1, column stride −1)
      // through head h's row of the bias; the causal cut-off keeps it at distances >= 0.
      if (bias) problem.mask = {kind: 'additive', values: bias.values, offset: h * bias.rows + a.past[b], rowStride: 1, colStride: -1};
      attentionForwardHead(problem, a.query(b, h), a.keys(b, g), a.values(b, g), a.output(b, h), null, 0, scratch);
    }
  }
}
