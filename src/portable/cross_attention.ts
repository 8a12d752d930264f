/**
 * The encoder side of a decoder step in plain TypeScript (encoder–decoder
 * models): filling a layer's cross caches from the encoder states, and the
 * attention of the new rows over them (every real source row visible: no
 * causality, no position bias; query head h reads kv head floor(h / (H / Hkv))).
 */
import {HeadProblem, MatrixView} from './attention_views';
import {attentionForwardHead, ForwardScratch} from './flash_attention_forward';
import {gemm} from './gemm';

export interface CrossCacheFill {
  /** [B, S, E] */
  encoderStates: Float32Array;
  batch: number;
  sourceLength: number;
  embed: number;
  kvHeads: number;
  depth: number;
  /** [layers, B, Hkv, S, D]: layer `layer`'s block is overwritten. */
  cache: Float32Array;
  layer: number;
  /** [E, Hkv·D] and its bias. */
  weight: Float32Array;
  bias: Float32Array | null;
  /** [B·S, Hkv·D] scratch. */
  scratch: Float32Array;
}

/** cache[layer, b, g, s, :] = (encoderStates[b, s, :] · weight + bias)[g·D : (g + 1)·D]. */
export function fillCrossCache(f: CrossCacheFill): void {
  const rows = f.batch * f.sourceLength, width = f.kvHeads * f.depth;
  gemm(f.encoderStates, rows, f.embed, f.weight, width, {values: f.scratch, offset: 0, rowStride: width},
      {bias: f.bias ?? undefined});
  const layerBase = f.layer * f.batch * f.kvHeads * f.sourceLength * f.depth;
  for (let b = 0; b < f.batch; b++) {
    for (let g = 0; g < f.kvHeads; g++) {
      const base = layerBase + (b * f.kvHeads + g) * f.sourceLength * f.depth;
      for (let s = 0; s < f.sourceLength; s++) {
        const from = (b * f.sourceLength + s) * width + g * f.depth;
        f.cache.set(f.scratch.subarray(from, from + f.depth), base + s * f.depth);
      }
    }
  }
}

export interface CrossAttention {
  batch: number;
  heads: number;
  kvHeads: number;
  depth: number;
  scale: number;
  sourceLength: number;
  /** New rows per sequence (sequence b's rows are packed from firstRow[b]). */
  fresh: ArrayLike<number>;
  /** [B, S] int32, nonzero = real; null = all real. */
  sourceMask: Int32Array | null;
  /** Sequence b, query head h's rows; kv head g's cached keys and values (this layer's). */
  query(b: number, h: number): MatrixView;
  keys(b: number, g: number): MatrixView;
  values(b: number, g: number): MatrixView;
  output(b: number, h: number): MatrixView;
}

export function attendOverSource(a: CrossAttention): void {
  const scratch = new ForwardScratch(a.depth);
  const group = a.heads / a.kvHeads;
  for (let b = 0; b < a.batch; b++) {
    if (a.fresh[b] === 0) continue;
    const problem: HeadProblem = {
      querySeq: a.fresh[b], keySeq: a.sourceLength, depth: a.depth, valueDepth: a.depth, scale: a.scale,
      causalShift: null, mask: null,
      keyValidity: a.sourceMask ? {values: a.sourceMask, offset: b * a.sourceLength} : null,
    };
    for (let h = 0; h < a.heads; h++) {
      const g = Math.floor(h / group);
      attentionForwardHead(problem, a.query(b, h), a.keys(b, g), a.values(b, g), a.output(b, h), null, 0, scratch);
    }
  }
}
