/**
 * Independent double-precision references for the decoding ops, written as
 * plainly as possible in JavaScript numbers (no tfjs op, no package code):
 * RMSNorm, rotary embeddings, attention over a growing cache, and a whole
 * decoder (decoder-only, or with cross-attention to given encoder states,
 * a per-distance position bias and an embedding norm) recomputing a sequence
 * from scratch. Random decoder configurations in the families the pass targets
 * (GPT-2, OPT, GPT-J, GPT-NeoX, Llama/Mistral) and random encoder–decoder
 * decoders (T5-, BART- and Whisper-like, any sizes).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {DecoderConfig, DecoderLayerWeights, DecoderWeights} from '../../src';
import {rng} from './random';

export function rmsNormReference(x: ArrayLike<number>, width: number, gamma: ArrayLike<number>, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / width; r++) {
    let squares = 0;
    for (let j = 0; j < width; j++) squares += x[r * width + j] ** 2;
    const inv = 1 / Math.sqrt(squares / width + eps);
    for (let j = 0; j < width; j++) out.push(x[r * width + j] * inv * gamma[j]);
  }
  return out;
}

/** Rotates one head's features (a copy) at `position`. */
export function rotateReference(head: number[], position: number, cos: ArrayLike<number>, sin: ArrayLike<number>,
    rotaryDim: number, interleaved: boolean): number[] {
  const half = rotaryDim / 2, out = head.slice();
  for (let i = 0; i < half; i++) {
    const ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const c = cos[position * half + i], s = sin[position * half + i];
    out[ia] = head[ia] * c - head[ib] * s;
    out[ib] = head[ib] * c + head[ia] * s;
  }
  return out;
}

/** HF-style tables: angle = position / base^(2i / rotaryDim). */
export function rotaryTables(rows: number, rotaryDim: number, base = 10000): {cos: tf.Tensor2D; sin: tf.Tensor2D} {
  const half = rotaryDim / 2, cos = new Float32Array(rows * half), sin = new Float32Array(rows * half);
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / base ** ((2 * i) / rotaryDim);
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return {cos: tf.tensor2d(cos, [rows, half]), sin: tf.tensor2d(sin, [rows, half])};
}

/** softmax(scale · q·kᵀ + bias over keys [0, visible)) · v, for one query row (bias[j], default 0). */
export function attendReference(q: ArrayLike<number>, keys: number[][], values: number[][], visible: number,
    scale: number, bias?: (j: number) => number): number[] {
  const scores: number[] = [];
  let max = -Infinity;
  for (let j = 0; j < visible; j++) {
    let dot = 0;
    for (let c = 0; c < q.length; c++) dot += q[c] * keys[j][c];
    const score = scale * dot + (bias ? bias(j) : 0);
    scores.push(score);
    max = Math.max(max, score);
  }
  let sum = 0;
  const probs = scores.map(s => {
    const p = Math.exp(s - max);
    sum += p;
    return p;
  });
  const out = new Array<number>(values[0]?.length ?? 0).fill(0);
  for (let j = 0; j < visible; j++) for (let c = 0; c < out.length; c++) out[c] += (probs[j] / sum) * values[j][c];
  return out;
}

export interface DecoderFamily {
  name: string;
  config: DecoderConfig;
  weights: DecoderWeights;
  vocab: number;
  positions: number;
}

function matrix(r: () => number, rows: number, cols: number, scale: number): tf.Tensor2D {
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = (r() * 2 - 1) * scale;
  return tf.tensor2d(v, [rows, cols]);
}

function vector(r: () => number, n: number, center: number, spread: number): tf.Tensor1D {
  const v = new Float32Array(n);
  for (let i = 0; i < n; i++) v[i] = center + (r() * 2 - 1) * spread;
  return tf.tensor1d(v);
}

/** A small random decoder of `family` (weights σ ≈ 1/sqrt(fan-in)); the caller disposes the tensors. */
export function randomDecoder(family: 'gpt2' | 'opt' | 'opt-post-norm' | 'gptj' | 'neox' | 'llama', seed: number): DecoderFamily {
  const r = rng(seed);
  const vocab = 37 + (seed % 5), positions = 48;
  const spec = {
    'gpt2': {e: 32, heads: 4, kv: 4, ffn: 64, layers: 2},
    'opt': {e: 24, heads: 3, kv: 3, ffn: 40, layers: 2},
    'opt-post-norm': {e: 24, heads: 3, kv: 3, ffn: 40, layers: 2},
    'gptj': {e: 32, heads: 4, kv: 4, ffn: 64, layers: 2},
    'neox': {e: 32, heads: 2, kv: 2, ffn: 48, layers: 1},
    'llama': {e: 32, heads: 4, kv: 2, ffn: 48, layers: 2},
  }[family];
  const d = spec.e / spec.heads;
  const rms = family === 'llama';
  const packed = family === 'gpt2' || family === 'neox';
  const gated = family === 'llama';
  const biases = family !== 'llama';
  const parallel = family === 'gptj' || family === 'neox';
  const shared = family === 'gptj';
  const s = 1 / Math.sqrt(spec.e);
  const layers: DecoderLayerWeights[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const w: DecoderLayerWeights = {
      norm1Gamma: vector(r, spec.e, 1, 0.2),
      outWeight: matrix(r, spec.heads * d, spec.e, s),
      upWeight: matrix(r, spec.e, spec.ffn, s),
      downWeight: matrix(r, spec.ffn, spec.e, 1 / Math.sqrt(spec.ffn)),
    };
    if (!rms) w.norm1Beta = vector(r, spec.e, 0, 0.1);
    if (!shared) {
      w.norm2Gamma = vector(r, spec.e, 1, 0.2);
      if (!rms) w.norm2Beta = vector(r, spec.e, 0, 0.1);
    }
    if (packed) {
      w.qkvWeight = matrix(r, spec.e, (spec.heads + 2 * spec.kv) * d, s);
      if (biases) w.qkvBias = vector(r, (spec.heads + 2 * spec.kv) * d, 0, 0.1);
    } else {
      w.qWeight = matrix(r, spec.e, spec.heads * d, s);
      w.kWeight = matrix(r, spec.e, spec.kv * d, s);
      w.vWeight = matrix(r, spec.e, spec.kv * d, s);
      if (biases) {
        w.qBias = vector(r, spec.heads * d, 0, 0.1);
        w.kBias = vector(r, spec.kv * d, 0, 0.1);
        w.vBias = vector(r, spec.kv * d, 0, 0.1);
      }
    }
    if (biases) {
      w.outBias = vector(r, spec.e, 0, 0.1);
      w.upBias = vector(r, spec.ffn, 0, 0.1);
      w.downBias = vector(r, spec.e, 0, 0.1);
    }
    if (gated) w.gateWeight = matrix(r, spec.e, spec.ffn, s);
    layers.push(w);
  }
  const word = matrix(r, vocab, spec.e, 0.5);
  const tied = family === 'gpt2' || family === 'opt' || family === 'opt-post-norm';
  const rotaryDim = family === 'gptj' ? d / 2 : family === 'neox' || family === 'llama' ? d : 0;
  const weights: DecoderWeights = {
    wordEmbeddings: word,
    lmHead: tied ? word : matrix(r, spec.e, vocab, s),
    layers,
  };
  if (!tied && biases) weights.lmHeadBias = vector(r, vocab, 0, 0.1);
  if (family !== 'opt-post-norm') {
    weights.finalNormGamma = vector(r, spec.e, 1, 0.2);
    if (!rms) weights.finalNormBeta = vector(r, spec.e, 0, 0.1);
  }
  const offset = family.startsWith('opt') ? 2 : 0;
  if (rotaryDim === 0) weights.positionEmbeddings = matrix(r, positions + offset, spec.e, 0.5);
  else Object.assign(weights, (({cos, sin}) => ({rotaryCos: cos, rotarySin: sin}))(rotaryTables(positions, rotaryDim)));
  const config: DecoderConfig = {
    numHeads: spec.heads, numKvHeads: spec.kv, normKind: rms ? 'rms' : 'layer', normFirst: family !== 'opt-post-norm',
    parallel, parallelSharedNorm: shared,
    activation: family === 'llama' ? 'silu' : family.startsWith('opt') ? 'relu' : family === 'neox' ? 'gelu' : 'gelu_tanh',
    positionOffset: offset, rotaryInterleaved: family === 'gptj', lmHeadTransposed: tied, normEps: 1e-5,
  };
  return {name: family, config, weights, vocab, positions};
}

export function disposeDecoder(f: DecoderFamily): void {
  const w = f.weights;
  const all: Array<tf.Tensor | undefined> = [w.wordEmbeddings, w.lmHead, w.positionEmbeddings, w.rotaryCos, w.rotarySin,
    w.finalNormGamma, w.finalNormBeta, w.lmHeadBias, w.positionBias, w.embeddingNormGamma, w.embeddingNormBeta];
  tf.dispose(all.filter((t): t is tf.Tensor => t != null));
  for (const l of w.layers) tf.dispose(Object.values(l).filter((t): t is tf.Tensor => t != null));
}

const act = (x: number, name: string) => {
  switch (name) {
    case 'relu': return Math.max(0, x);
    case 'silu': return x / (1 + Math.exp(-x));
    case 'gelu': return 0.5 * x * (1 + erf(x / Math.SQRT2));
    default: return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  }
};

/** erf by its Taylor series / continued fraction (double precision), independent of the package's. */
function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let sum = z, term = z;
    for (let n = 1; n < 100; n++) {
      term *= -z * z / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Large |x|: erfc by continued fraction.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (z + f);
  return Math.sign(x) * (1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f));
}

/** One sequence's encoder side: its states [S][E] and which source rows are real (default all). */
export interface SourceReference {
  states: number[][];
  mask?: number[];
}

/**
 * Logits of every position of `ids` [len][vocab], recomputing the sequence from scratch; layers with
 * cross-attention attend to `source` (required then).
 */
export function decoderReference(f: DecoderFamily, ids: number[], source?: SourceReference): number[][] {
  const c = f.config, w = f.weights;
  const read = (t: tf.Tensor | undefined) => (t ? Array.from(t.dataSync()) : null);
  const [vocab, e] = w.wordEmbeddings.shape;
  const heads = c.numHeads, kv = c.numKvHeads ?? heads;
  const layer0 = w.layers[0];
  const d = (layer0.qkvWeight ? (layer0.qkvWeight.shape[1] as number) / (heads + 2 * kv)
    : ((layer0.qWeight as tf.Tensor).shape[1] as number) / heads);
  const len = ids.length;
  const word = read(w.wordEmbeddings) as number[];
  const pos = read(w.positionEmbeddings);
  const cos = read(w.rotaryCos), sin = read(w.rotarySin);
  const rotaryDim = w.rotaryCos ? 2 * w.rotaryCos.shape[1] : 0;
  const offset = c.positionOffset ?? 0, eps = c.normEps ?? 1e-5;
  const matmul = (x: number[][], m: tf.Tensor | undefined, b: tf.Tensor | undefined): number[][] => {
    const mv = read(m) as number[], bv = read(b);
    const [rows, cols] = (m as tf.Tensor).shape;
    return x.map(row => Array.from({length: cols}, (_, j) => {
      let sum = bv ? bv[j] : 0;
      for (let k = 0; k < rows; k++) sum += row[k] * mv[k * cols + j];
      return sum;
    }));
  };
  const norm = (x: number[][], g: tf.Tensor | undefined, b: tf.Tensor | undefined, epsilon: number): number[][] => {
    const gv = read(g), bv = read(b);
    return x.map(row => {
      if (c.normKind === 'rms') {
        const inv = 1 / Math.sqrt(row.reduce((s, v) => s + v * v, 0) / row.length + epsilon);
        return row.map((v, j) => v * inv * (gv ? gv[j] : 1));
      }
      const mean = row.reduce((s, v) => s + v, 0) / row.length;
      const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / row.length;
      return row.map((v, j) => (v - mean) / Math.sqrt(variance + epsilon) * (gv ? gv[j] : 1) + (bv ? bv[j] : 0));
    });
  };
  // BlenderbotSmall (embeddingNormBeforePositions): norm(scale · word) + position; BART: norm(scale · word + position).
  const normWordsAlone = c.embeddingNormBeforePositions === true;
  const position = (t: number, j: number) => (pos ? pos[(t + offset) * e + j] : 0);
  let x = ids.map((id, t) => Array.from({length: e}, (_, j) => word[id * e + j] * (c.embeddingScale ?? 1) +
      (normWordsAlone ? 0 : position(t, j))));
  if (w.embeddingNormGamma || w.embeddingNormBeta) x = norm(x, w.embeddingNormGamma, w.embeddingNormBeta, c.embeddingNormEps ?? eps);
  if (normWordsAlone) x = x.map((row, t) => row.map((v, j) => v + position(t, j)));
  const positionBias = read(w.positionBias);
  const biasRows = w.positionBias ? w.positionBias.shape[1] : 0;
  const scale = c.scale ?? 1 / Math.sqrt(d);
  /** softmax over the real source rows of one layer's cross keys/values, for each query row and head. */
  const crossAttend = (h: number[][], l: DecoderLayerWeights): number[][] => {
    const states = (source as SourceReference).states;
    const real = states.map((_, s) => (source?.mask ? source.mask[s] !== 0 : true));
    const keys = matmul(states, l.crossKWeight, l.crossKBias).filter((_, s) => real[s]);
    const values = matmul(states, l.crossVWeight, l.crossVBias).filter((_, s) => real[s]);
    const q = matmul(h, l.crossQWeight, l.crossQBias);
    const ctx = q.map(row => {
      const out: number[] = [];
      for (let hh = 0; hh < heads; hh++) {
        const g = Math.floor(hh / (heads / kv));
        out.push(...attendReference(row.slice(hh * d, (hh + 1) * d), keys.map(kr => kr.slice(g * d, (g + 1) * d)),
            values.map(vr => vr.slice(g * d, (g + 1) * d)), keys.length, scale));
      }
      return out;
    });
    return matmul(ctx, l.crossOutWeight, l.crossOutBias);
  };
  for (const l of w.layers) {
    const h = c.normFirst !== false || c.parallel ? norm(x, l.norm1Gamma, l.norm1Beta, eps) : x;
    let q: number[][], k: number[][], v: number[][];
    if (l.qkvWeight) {
      const qkv = matmul(h, l.qkvWeight, l.qkvBias);
      q = qkv.map(row => row.slice(0, heads * d));
      k = qkv.map(row => row.slice(heads * d, (heads + kv) * d));
      v = qkv.map(row => row.slice((heads + kv) * d));
    } else {
      q = matmul(h, l.qWeight, l.qBias);
      k = matmul(h, l.kWeight, l.kBias);
      v = matmul(h, l.vWeight, l.vBias);
    }
    if (rotaryDim > 0) {
      const rotate = (rows: number[][], count: number) => rows.map((row, t) => {
        const out: number[] = [];
        for (let hh = 0; hh < count; hh++) {
          out.push(...rotateReference(row.slice(hh * d, (hh + 1) * d), t, cos as number[], sin as number[], rotaryDim,
              c.rotaryInterleaved ?? false));
        }
        return out;
      });
      q = rotate(q, heads);
      k = rotate(k, kv);
    }
    const ctx = q.map((row, t) => {
      const out: number[] = [];
      for (let hh = 0; hh < heads; hh++) {
        const g = Math.floor(hh / (heads / kv));
        const bias = positionBias ? (j: number) => (positionBias as number[])[hh * biasRows + t - j] : undefined;
        out.push(...attendReference(row.slice(hh * d, (hh + 1) * d), k.map(kr => kr.slice(g * d, (g + 1) * d)),
            v.map(vr => vr.slice(g * d, (g + 1) * d)), t + 1, scale, bias));
      }
      return out;
    });
    let attn = matmul(ctx, l.outWeight, l.outBias).map((row, t) => row.map((val, j) => val + x[t][j]));
    if (c.normFirst === false && !c.parallel) attn = norm(attn, l.norm1Gamma, l.norm1Beta, eps);
    if (l.crossQWeight) {
      const prior = attn;
      const crossIn = c.normFirst !== false ? norm(prior, l.crossNormGamma, l.crossNormBeta, eps) : prior;
      attn = crossAttend(crossIn, l).map((row, t) => row.map((val, j) => val + prior[t][j]));
      if (c.normFirst === false) attn = norm(attn, l.crossNormGamma, l.crossNormBeta, eps);
    }
    let mlpIn: number[][];
    if (c.parallel) mlpIn = c.parallelSharedNorm ? h : norm(x, l.norm2Gamma, l.norm2Beta, eps);
    else if (c.normFirst !== false) mlpIn = norm(attn, l.norm2Gamma, l.norm2Beta, eps);
    else mlpIn = attn;
    const up = matmul(mlpIn, l.upWeight, l.upBias);
    const hidden = l.gateWeight
      ? matmul(mlpIn, l.gateWeight, l.gateBias).map((row, t) => row.map((gv, j) => act(gv, c.activation) * up[t][j]))
      : up.map(row => row.map(u => act(u, c.activation)));
    x = matmul(hidden, l.downWeight, l.downBias).map((row, t) => row.map((val, j) => val + attn[t][j]));
    if (c.normFirst === false && !c.parallel) x = norm(x, l.norm2Gamma, l.norm2Beta, eps);
  }
  if (w.finalNormGamma || w.finalNormBeta) x = norm(x, w.finalNormGamma, w.finalNormBeta, c.finalNormEps ?? eps);
  const head = read(w.lmHead) as number[], headBias = read(w.lmHeadBias);
  return x.map(row => Array.from({length: vocab}, (_, j) => {
    let sum = headBias ? headBias[j] : 0;
    for (let i = 0; i < e; i++) sum += row[i] * (c.lmHeadTransposed ? head[j * e + i] : head[i * vocab + j]);
    return sum;
  }));
}

export type Seq2SeqKind = 't5' | 'bart' | 'blenderbot_small' | 'whisper';

export interface Seq2SeqShape {
  embed: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  layers: number;
  vocab: number;
}

/**
 * A random encoder–decoder decoder: 't5' (pre-norm RMSNorm, no biases, gated relu MLP, per-distance
 * position bias, scale 1, tied head), 'bart' (post-norm LayerNorm with biases, learned positions at
 * offset 2, embedding norm, gelu), 'blenderbot_small' (as 'bart' but positions at offset 0 added after the
 * embedding norm), 'whisper' (pre-norm LayerNorm, learned positions, gelu, final norm).
 * Any sizes (E need not be H·D). The caller disposes the tensors (disposeDecoder).
 */
export function randomSeq2Seq(kind: Seq2SeqKind, shape: Seq2SeqShape, seed: number): DecoderFamily {
  const r = rng(seed);
  const {embed: e, heads, kvHeads: kv, headDim: d, ffn, vocab} = shape;
  const bartLike = kind === 'bart' || kind === 'blenderbot_small';
  const positions = 40;
  const rms = kind === 't5', biases = kind !== 't5';
  const s = 1 / Math.sqrt(e);
  const layers: DecoderLayerWeights[] = [];
  for (let l = 0; l < shape.layers; l++) {
    const w: DecoderLayerWeights = {
      norm1Gamma: vector(r, e, 1, 0.2), norm2Gamma: vector(r, e, 1, 0.2), crossNormGamma: vector(r, e, 1, 0.2),
      qWeight: matrix(r, e, heads * d, s), kWeight: matrix(r, e, kv * d, s), vWeight: matrix(r, e, kv * d, s),
      outWeight: matrix(r, heads * d, e, 1 / Math.sqrt(heads * d)),
      crossQWeight: matrix(r, e, heads * d, s), crossKWeight: matrix(r, e, kv * d, s), crossVWeight: matrix(r, e, kv * d, s),
      crossOutWeight: matrix(r, heads * d, e, 1 / Math.sqrt(heads * d)),
      upWeight: matrix(r, e, ffn, s), downWeight: matrix(r, ffn, e, 1 / Math.sqrt(ffn)),
    };
    if (kind === 't5') w.gateWeight = matrix(r, e, ffn, s);
    if (!rms) {
      w.norm1Beta = vector(r, e, 0, 0.1);
      w.norm2Beta = vector(r, e, 0, 0.1);
      w.crossNormBeta = vector(r, e, 0, 0.1);
    }
    if (biases) {
      Object.assign(w, {
        qBias: vector(r, heads * d, 0, 0.1), kBias: vector(r, kv * d, 0, 0.1), vBias: vector(r, kv * d, 0, 0.1),
        outBias: vector(r, e, 0, 0.1), crossQBias: vector(r, heads * d, 0, 0.1), crossKBias: vector(r, kv * d, 0, 0.1),
        crossVBias: vector(r, kv * d, 0, 0.1), crossOutBias: vector(r, e, 0, 0.1), upBias: vector(r, ffn, 0, 0.1),
        downBias: vector(r, e, 0, 0.1),
      });
    }
    layers.push(w);
  }
  const word = matrix(r, vocab, e, 0.5);
  const weights: DecoderWeights = {wordEmbeddings: word, lmHead: kind === 'whisper' ? matrix(r, e, vocab, s) : word, layers};
  const offset = kind === 'bart' ? 2 : 0;
  if (kind === 't5') weights.positionBias = matrix(r, heads, positions, 1);
  else weights.positionEmbeddings = matrix(r, positions + offset, e, 0.5);
  if (bartLike) {
    weights.embeddingNormGamma = vector(r, e, 1, 0.2);
    weights.embeddingNormBeta = vector(r, e, 0, 0.1);
  } else {
    weights.finalNormGamma = vector(r, e, 1, 0.2);
    if (!rms) weights.finalNormBeta = vector(r, e, 0, 0.1);
  }
  const config: DecoderConfig = {
    numHeads: heads, numKvHeads: kv, normKind: rms ? 'rms' : 'layer', normFirst: !bartLike,
    activation: kind === 't5' ? 'relu' : 'gelu', positionOffset: offset, lmHeadTransposed: kind !== 'whisper',
    normEps: 1e-5, embeddingNormEps: 1e-5, ...(kind === 't5' ? {scale: 1} : {}),
    ...(bartLike ? {embeddingScale: Math.sqrt(e)} : {}),
    ...(kind === 'blenderbot_small' ? {embeddingNormBeforePositions: true} : {}),
  };
  return {name: kind, config, weights, vocab, positions};
}
