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
    for (let h = 0; h < a.heads; h++) {
      const g = Math.floor(h / group);
      attentionForwardHead(problem, a.query(b, h), a.keys(b, g), a.values(b, g), a.output(b, h), null, 0, scratch);
    }
  }
}
