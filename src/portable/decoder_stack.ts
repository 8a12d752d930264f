/**
 * A decoder-only language model's step in plain TypeScript: the same
 * algorithm as the native core's btk_transformer_decoder_stack (new tokens
 * packed into rows, embeddings at their positions, each layer with its keys and
 * values appended to the cache in place, attention per sequence over its
 * cached rows, the final norm and LM head on the rows whose logits are asked
 * for). Weights are read where they are. Encoder–decoder layers add
 * cross-attention over cross caches (filled first from the encoder states
 * when the step has them) and the self-attention may add a per-distance bias.
 */
import type {DecoderStackAttrs} from '../op_table';
import {activationFunction} from './activations';
import {gemm, gemmTransposed} from './gemm';
import {attendOverSource, fillCrossCache} from './cross_attention';
import {attendOverCache} from './kv_cache_attention';
import {layerNormRows} from './layer_norm';
import {rmsNormRows} from './rms_norm';
import {rotateHeads} from './rotary';

/** One layer's arrays; absent ones are null. */
export interface PortableDecoderLayer {
  norm1Gamma: Float32Array | null;
  norm1Beta: Float32Array | null;
  norm2Gamma: Float32Array | null;
  norm2Beta: Float32Array | null;
  qkvWeight: Float32Array | null;
  qkvBias: Float32Array | null;
  qWeight: Float32Array | null;
  qBias: Float32Array | null;
  kWeight: Float32Array | null;
  kBias: Float32Array | null;
  vWeight: Float32Array | null;
  vBias: Float32Array | null;
  outWeight: Float32Array;
  outBias: Float32Array | null;
  gateWeight: Float32Array | null;
  gateBias: Float32Array | null;
  upWeight: Float32Array;
  upBias: Float32Array | null;
  downWeight: Float32Array;
  downBias: Float32Array | null;
  crossNormGamma: Float32Array | null;
  crossNormBeta: Float32Array | null;
  crossQWeight: Float32Array | null;
  crossQBias: Float32Array | null;
  crossKWeight: Float32Array | null;
  crossKBias: Float32Array | null;
  crossVWeight: Float32Array | null;
  crossVBias: Float32Array | null;
  crossOutWeight: Float32Array | null;
  crossOutBias: Float32Array | null;
}

export interface PortableDecoder {
  attrs: DecoderStackAttrs;
  vocab: number;
  embed: number;
  ffn: number;
  wordEmbeddings: Float32Array;
  positionEmbeddings: Float32Array | null;
  rotaryCos: Float32Array | null;
  rotarySin: Float32Array | null;
  finalNormGamma: Float32Array | null;
  finalNormBeta: Float32Array | null;
  lmHead: Float32Array;
  lmHeadBias: Float32Array | null;
  /** [H, P] or null. */
  positionBias: Float32Array | null;
  /** [E] or null (attrs.hasEmbeddingNorm). */
  embeddingNormGamma: Float32Array | null;
  embeddingNormBeta: Float32Array | null;
  layers: PortableDecoderLayer[];
}

export interface PortableDecoderStep {
  inputIds: Int32Array;
  batch: number;
  newTokens: number;
  capacity: number;
  past: Int32Array;
  fresh: Int32Array;
  /** [layers, B, Hkv, C, D], written in place. */
  keyCache: Float32Array;
  valueCache: Float32Array;
  /** [B, vocab] ('last') or [B, N, vocab] ('all'), zero-filled by the caller. */
  logits: Float32Array;
  /** Cross-attention (else 0 and nulls): S, the encoder states [B, S, E] when the caches are to be filled first. */
  sourceLength: number;
  encoderStates: Float32Array | null;
  /** [B, S] int32 or null (all real). */
  sourceMask: Int32Array | null;
  /** [layers, B, Hkv, S, D], written in place when encoderStates is given. */
  crossKeyCache: Float32Array | null;
  crossValueCache: Float32Array | null;
}

/** Every layer's cross keys and values from the encoder states, into the cross caches. */
function fillCrossCaches(m: PortableDecoder, s: PortableDecoderStep): void {
  const a = m.attrs;
  const scratch = new Float32Array(s.batch * s.sourceLength * a.numKvHeads * a.headDim);
  const common = {encoderStates: s.encoderStates as Float32Array, batch: s.batch, sourceLength: s.sourceLength, embed: m.embed,
    kvHeads: a.numKvHeads, depth: a.headDim, scratch};
  for (let l = 0; l < a.numLayers; l++) {
    const w = m.layers[l];
    fillCrossCache({...common, cache: s.crossKeyCache as Float32Array, layer: l, weight: w.crossKWeight as Float32Array, bias: w.crossKBias});
    fillCrossCache({...common, cache: s.crossValueCache as Float32Array, layer: l, weight: w.crossVWeight as Float32Array, bias: w.crossVBias});
  }
}

const orUndefined = (x: Float32Array | null) => x ?? undefined;

export function decoderStep(m: PortableDecoder, s: PortableDecoderStep): void {
  const a = m.attrs;
  const e = m.embed, d = a.headDim, heads = a.numHeads, kvHeads = a.numKvHeads;
  const qWidth = heads * d, kvWidth = kvHeads * d, qkvWidth = qWidth + 2 * kvWidth, f = m.ffn;
  const firstRow = new Int32Array(s.batch);
  const position: number[] = [], sequence: number[] = [];
  let n = 0;
  for (let b = 0; b < s.batch; b++) {
    firstRow[b] = n;
    for (let i = 0; i < s.fresh[b]; i++) {
      position.push(s.past[b] + i);
      sequence.push(b);
    }
    n += s.fresh[b];
  }
  // The cross caches are filled even when no sequence has a new token (a step that only encodes).
  if (a.crossAttention && s.encoderStates) fillCrossCaches(m, s);
  if (n === 0) return;

  const x = new Float32Array(n * e), h = new Float32Array(n * e), attn = new Float32Array(n * e);
  const qkv = new Float32Array(n * qkvWidth), ctx = new Float32Array(n * qWidth);
  const ffn1 = new Float32Array(n * f), ffn2 = a.gatedMlp ? new Float32Array(n * f) : ffn1;
  // BlenderbotSmall's decoder norms the word embeddings alone and adds the positions after the norm.
  const normWordsAlone = a.hasEmbeddingNorm && a.embeddingNormBeforePositions;
  const addPositions = () => {
    if (!m.positionEmbeddings) return;
    for (let r = 0; r < n; r++) {
      for (let c = 0; c < e; c++) x[r * e + c] += m.positionEmbeddings[(position[r] + a.positionOffset) * e + c];
    }
  };
  for (let r = 0; r < n; r++) {
    const b = sequence[r], id = s.inputIds[b * s.newTokens + (r - firstRow[b])];
    for (let c = 0; c < e; c++) x[r * e + c] = m.wordEmbeddings[id * e + c] * a.embeddingScale;
  }
  if (!normWordsAlone) addPositions();
  const norm = (src: Float32Array, gamma: Float32Array | null, beta: Float32Array | null, eps: number, dst: Float32Array) => {
    if (a.normKind === 'rms') {
      rmsNormRows(src, n, e, gamma, eps, dst);
    } else {
      layerNormRows(src, n, e, gamma ?? new Float32Array(e).fill(1), beta ?? new Float32Array(e), eps, dst);
    }
  };
  if (a.hasEmbeddingNorm) norm(x, m.embeddingNormGamma, m.embeddingNormBeta, a.embeddingNormEps, x);
  if (normWordsAlone) addPositions();
  const activation = activationFunction(a.activation);
  const half = a.rotaryDim / 2;
  const layerStride = s.batch * kvHeads * s.capacity * d;
  const crossLayerStride = s.batch * kvHeads * s.sourceLength * d;
  const positionBias = m.positionBias ? {values: m.positionBias, rows: m.positionBias.length / heads} : null;
  const crossQ = a.crossAttention ? new Float32Array(n * qWidth) : null;

  for (let l = 0; l < a.numLayers; l++) {
    const w = m.layers[l];
    let input = x;
    if (a.normFirst || a.parallel) {
      norm(x, w.norm1Gamma, w.norm1Beta, a.normEps1[l], h);
      input = h;
    }
    if (w.qkvWeight) {
      gemm(input, n, e, w.qkvWeight, qkvWidth, {values: qkv, offset: 0, rowStride: qkvWidth}, {bias: orUndefined(w.qkvBias)});
    } else {
      gemm(input, n, e, w.qWeight as Float32Array, qWidth, {values: qkv, offset: 0, rowStride: qkvWidth}, {bias: orUndefined(w.qBias)});
      gemm(input, n, e, w.kWeight as Float32Array, kvWidth, {values: qkv, offset: qWidth, rowStride: qkvWidth}, {bias: orUndefined(w.kBias)});
      gemm(input, n, e, w.vWeight as Float32Array, kvWidth, {values: qkv, offset: qWidth + kvWidth, rowStride: qkvWidth},
          {bias: orUndefined(w.vBias)});
    }
    const layerBase = l * layerStride;
    for (let r = 0; r < n; r++) {
      const base = r * qkvWidth;
      if (half > 0) {
        rotateHeads(qkv, base, heads, d, position[r], half, m.rotaryCos as Float32Array, m.rotarySin as Float32Array, a.rotaryInterleaved);
        rotateHeads(qkv, base + qWidth, kvHeads, d, position[r], half, m.rotaryCos as Float32Array, m.rotarySin as Float32Array,
            a.rotaryInterleaved);
      }
      const b = sequence[r];
      for (let g = 0; g < kvHeads; g++) {
        const slot = layerBase + ((b * kvHeads + g) * s.capacity + position[r]) * d;
        s.keyCache.set(qkv.subarray(base + qWidth + g * d, base + qWidth + (g + 1) * d), slot);
        s.valueCache.set(qkv.subarray(base + qWidth + kvWidth + g * d, base + qWidth + kvWidth + (g + 1) * d), slot);
      }
    }
    attendOverCache({
      batch: s.batch, heads, kvHeads, depth: d, valueDepth: d, scale: a.scale, past: s.past, fresh: s.fresh,
      query: (b, hh) => ({values: qkv, offset: firstRow[b] * qkvWidth + hh * d, rowStride: qkvWidth}),
      keys: (b, g) => ({values: s.keyCache, offset: layerBase + (b * kvHeads + g) * s.capacity * d, rowStride: d}),
      values: (b, g) => ({values: s.valueCache, offset: layerBase + (b * kvHeads + g) * s.capacity * d, rowStride: d}),
      output: (b, hh) => ({values: ctx, offset: firstRow[b] * qWidth + hh * d, rowStride: qWidth}),
      positionBias,
    });
    gemm(ctx, n, qWidth, w.outWeight, e, {values: attn, offset: 0, rowStride: e}, {bias: orUndefined(w.outBias), residual: x});

    let mlpInput: Float32Array;
    let residual: Float32Array;
    if (a.parallel) {
      if (!a.parallelSharedNorm) norm(x, w.norm2Gamma, w.norm2Beta, a.normEps2[l], h);
      mlpInput = h;
      residual = attn;
    } else if (a.normFirst) {
      if (!crossQ) norm(attn, w.norm2Gamma, w.norm2Beta, a.normEps2[l], h);
      mlpInput = h;
      residual = attn;
    } else {
      norm(attn, w.norm1Gamma, w.norm1Beta, a.normEps1[l], attn);
      mlpInput = attn;
      residual = attn;
    }
    if (crossQ) {
      // x += CrossAttn(Nc(x)) (pre-norm) or x = Nc(x + CrossAttn(x)) (post-norm), x being `attn`
      // here; the MLP then reads N2(attn) from h (pre-norm) or attn itself (post-norm).
      let crossInput = attn;
      if (a.normFirst) {
        norm(attn, w.crossNormGamma, w.crossNormBeta, a.normEpsCross[l], h);
        crossInput = h;
      }
      gemm(crossInput, n, e, w.crossQWeight as Float32Array, qWidth, {values: crossQ, offset: 0, rowStride: qWidth},
          {bias: orUndefined(w.crossQBias)});
      const crossBase = l * crossLayerStride;
      const source = (cache: Float32Array, b: number, g: number) =>
        ({values: cache, offset: crossBase + (b * kvHeads + g) * s.sourceLength * d, rowStride: d});
      attendOverSource({
        batch: s.batch, heads, kvHeads, depth: d, scale: a.scale, sourceLength: s.sourceLength, fresh: s.fresh,
        sourceMask: s.sourceMask,
        query: (b, hh) => ({values: crossQ, offset: firstRow[b] * qWidth + hh * d, rowStride: qWidth}),
        keys: (b, g) => source(s.crossKeyCache as Float32Array, b, g),
        values: (b, g) => source(s.crossValueCache as Float32Array, b, g),
        output: (b, hh) => ({values: ctx, offset: firstRow[b] * qWidth + hh * d, rowStride: qWidth}),
      });
      // Output and residual are the same array: each element is read before it is written.
      gemm(ctx, n, qWidth, w.crossOutWeight as Float32Array, e, {values: attn, offset: 0, rowStride: e},
          {bias: orUndefined(w.crossOutBias), residual: attn});
      if (a.normFirst) norm(attn, w.norm2Gamma, w.norm2Beta, a.normEps2[l], h);
      else norm(attn, w.crossNormGamma, w.crossNormBeta, a.normEpsCross[l], attn);
    }
    if (a.gatedMlp) {
      gemm(mlpInput, n, e, w.gateWeight as Float32Array, f, {values: ffn1, offset: 0, rowStride: f},
          {bias: orUndefined(w.gateBias), activation});
      gemm(mlpInput, n, e, w.upWeight, f, {values: ffn2, offset: 0, rowStride: f}, {bias: orUndefined(w.upBias)});
      for (let i = 0; i < n * f; i++) ffn1[i] *= ffn2[i];
    } else {
      gemm(mlpInput, n, e, w.upWeight, f, {values: ffn1, offset: 0, rowStride: f}, {bias: orUndefined(w.upBias), activation});
    }
    gemm(ffn1, n, f, w.downWeight, e, {values: x, offset: 0, rowStride: e}, {bias: orUndefined(w.downBias), residual});
    if (!a.normFirst && !a.parallel) norm(x, w.norm2Gamma, w.norm2Beta, a.normEps2[l], x);
  }

  // Rows whose logits are wanted, then the final norm and the LM head.
  const outRows: number[] = [];
  const selected = new Float32Array((a.logitsRows === 'all' ? n : s.batch) * e);
  let count = 0;
  for (let b = 0; b < s.batch; b++) {
    if (s.fresh[b] === 0) continue;
    if (a.logitsRows === 'all') {
      for (let i = 0; i < s.fresh[b]; i++) {
        selected.set(x.subarray((firstRow[b] + i) * e, (firstRow[b] + i + 1) * e), count * e);
        outRows.push(b * s.newTokens + i);
        count++;
      }
    } else {
      selected.set(x.subarray((firstRow[b] + s.fresh[b] - 1) * e, (firstRow[b] + s.fresh[b]) * e), count * e);
      outRows.push(b);
      count++;
    }
  }
  if (a.hasFinalNorm) {
    if (a.normKind === 'rms') {
      rmsNormRows(selected, count, e, m.finalNormGamma, a.finalNormEps, selected);
    } else {
      layerNormRows(selected, count, e, m.finalNormGamma ?? new Float32Array(e).fill(1), m.finalNormBeta ?? new Float32Array(e),
          a.finalNormEps, selected);
    }
  }
  const logits = new Float32Array(count * m.vocab);
  const target = {values: logits, offset: 0, rowStride: m.vocab};
  if (a.lmHeadTransposed) gemmTransposed(selected, count, e, m.lmHead, m.vocab, target, {bias: orUndefined(m.lmHeadBias)});
  else gemm(selected, count, e, m.lmHead, m.vocab, target, {bias: orUndefined(m.lmHeadBias)});
  for (let i = 0; i < count; i++) s.logits.set(logits.subarray(i * m.vocab, (i + 1) * m.vocab), outRows[i] * m.vocab);
}
