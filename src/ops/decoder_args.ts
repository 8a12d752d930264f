/**
 * Validation and normalisation of transformerDecoderStack's weights and
 * configuration: shapes against one another, the forms (packed or separate
 * QKV, plain or gated MLP, learned or rotary positions, tied head) and the
 * attributes the kernels take. Checked once; the generator reuses the result
 * for every step (only the step's ids, lengths and caches change).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  DECODER_ACTIVATIONS, DECODER_CROSS_LAYER_INPUTS, DECODER_LAYER_INPUTS, DecoderActivation, DecoderLayerInputName, DecoderLogitsRows,
  DecoderModelAttrs, DecoderNormKind, MAX_LAYERS, WeightPrecision,
} from '../op_table';
import type {GpuPrecision} from '../config';
import {
  describeShape, describeValue, fail, requireBoolean, requireFiniteNumber, requireFloat32, requireKnownKeys,
  requireOneOf, requireRank, requireTensor, resolveGpuPrecision,
} from './validate';

/** One decoder layer's weights ([in, out] matrices; absent biases are 0). */
export interface DecoderLayerWeights {
  norm1Gamma?: tf.Tensor1D;
  norm1Beta?: tf.Tensor1D;
  norm2Gamma?: tf.Tensor1D;
  norm2Beta?: tf.Tensor1D;
  /** [E, (H + 2·Hkv)·D], columns q | k | v; or the three below. */
  qkvWeight?: tf.Tensor2D;
  qkvBias?: tf.Tensor1D;
  qWeight?: tf.Tensor2D;
  qBias?: tf.Tensor1D;
  kWeight?: tf.Tensor2D;
  kBias?: tf.Tensor1D;
  vWeight?: tf.Tensor2D;
  vBias?: tf.Tensor1D;
  outWeight: tf.Tensor2D;
  outBias?: tf.Tensor1D;
  /** Gated MLP (SwiGLU): down(act(gate(x)) · up(x)). */
  gateWeight?: tf.Tensor2D;
  gateBias?: tf.Tensor1D;
  upWeight: tf.Tensor2D;
  upBias?: tf.Tensor1D;
  downWeight: tf.Tensor2D;
  downBias?: tf.Tensor1D;
  /**
   * Cross-attention to an encoder's states (encoder–decoder models), in every layer or none:
   * crossQ/K/V/OutWeight required then, biases and the norm optional (RMSNorm has no beta).
   */
  crossNormGamma?: tf.Tensor1D;
  crossNormBeta?: tf.Tensor1D;
  /** [E, H·D] */
  crossQWeight?: tf.Tensor2D;
  crossQBias?: tf.Tensor1D;
  /** [E, Hkv·D]: fills the cross key cache from the encoder states. */
  crossKWeight?: tf.Tensor2D;
  crossKBias?: tf.Tensor1D;
  /** [E, Hkv·D] */
  crossVWeight?: tf.Tensor2D;
  crossVBias?: tf.Tensor1D;
  /** [H·D, E] */
  crossOutWeight?: tf.Tensor2D;
  crossOutBias?: tf.Tensor1D;
}

export interface DecoderWeights {
  /** [vocab, E] */
  wordEmbeddings: tf.Tensor2D;
  /** Learned positions [rows, E]: position p reads row p + positionOffset. */
  positionEmbeddings?: tf.Tensor2D;
  /** Rotary tables [rows, rotaryDim / 2] (see rotaryEmbedding). */
  rotaryCos?: tf.Tensor2D;
  rotarySin?: tf.Tensor2D;
  finalNormGamma?: tf.Tensor1D;
  finalNormBeta?: tf.Tensor1D;
  /** [E, vocab], or [vocab, E] with lmHeadTransposed (an LM head tied to wordEmbeddings). */
  lmHead: tf.Tensor2D;
  lmHeadBias?: tf.Tensor1D;
  /**
   * [H, P]: added to the self-attention score of a query at position i and a key at j <= i:
   * positionBias[h, i − j] (T5's relative bias, looked up per distance from its buckets by the
   * caller). Positions are then limited to P.
   */
  positionBias?: tf.Tensor2D;
  /** [E]: the embeddings are normed (the layers' normKind; RMSNorm has no beta) before layer 0 (BART). */
  embeddingNormGamma?: tf.Tensor1D;
  embeddingNormBeta?: tf.Tensor1D;
  layers: DecoderLayerWeights[];
}

export interface DecoderConfig {
  numHeads: number;
  /** Key/value heads (GQA); default numHeads. */
  numKvHeads?: number;
  /** 'layer' (LayerNorm, default) or 'rms' (RMSNorm). */
  normKind?: DecoderNormKind;
  /** Pre-norm (default) or post-norm layers. */
  normFirst?: boolean;
  /** Attention and MLP in parallel: x + attn(n1(x)) + mlp(n2(x)) (GPT-NeoX), n1 for both with parallelSharedNorm (GPT-J). */
  parallel?: boolean;
  parallelSharedNorm?: boolean;
  activation: DecoderActivation;
  /** Multiplies q·k; default 1/sqrt(D). */
  scale?: number;
  /** Multiplies the word embeddings; default 1. */
  embeddingScale?: number;
  /** Learned position rows are read at position + positionOffset (OPT: 2); default 0. */
  positionOffset?: number;
  rotaryInterleaved?: boolean;
  /** Norm epsilons: one number for every norm, default 1e-5. */
  normEps?: number;
  finalNormEps?: number;
  /** Epsilon of the embedding norm; default normEps. */
  embeddingNormEps?: number;
  /**
   * The embedding norm (embeddingNormGamma/Beta) is of the scaled word embeddings alone, the positions added
   * after it (BlenderbotSmall's decoder); default false: of their sum (BART).
   */
  embeddingNormBeforePositions?: boolean;
  lmHeadTransposed?: boolean;
}

const CONFIG_KEYS = [
  'numHeads', 'numKvHeads', 'normKind', 'normFirst', 'parallel', 'parallelSharedNorm', 'activation', 'scale',
  'embeddingScale', 'positionOffset', 'rotaryInterleaved', 'normEps', 'finalNormEps', 'embeddingNormEps',
  'embeddingNormBeforePositions', 'lmHeadTransposed',
] as const;
const WEIGHT_KEYS = ['wordEmbeddings', 'positionEmbeddings', 'rotaryCos', 'rotarySin', 'finalNormGamma',
  'finalNormBeta', 'lmHead', 'lmHeadBias', 'positionBias', 'embeddingNormGamma', 'embeddingNormBeta', 'layers'] as const;

/** The checked model: tensors by kernel input name, the attributes (without the per-call ones), sizes. */
export interface DecoderModelArgs {
  globals: {
    wordEmbeddings: tf.Tensor; positionEmbeddings: tf.Tensor | null; rotaryCos: tf.Tensor | null;
    rotarySin: tf.Tensor | null; finalNormGamma: tf.Tensor | null; finalNormBeta: tf.Tensor | null;
    lmHead: tf.Tensor; lmHeadBias: tf.Tensor | null; positionBias: tf.Tensor | null;
    embeddingNormGamma: tf.Tensor | null; embeddingNormBeta: tf.Tensor | null;
  };
  layers: Array<Partial<Record<DecoderLayerInputName, tf.Tensor>>>;
  /**
   * logitsRows 'last' and weightPrecision 'float32' until a step says otherwise; no GPU precision
   * (each step resolves its own).
   */
  attrs: DecoderModelAttrs;
  dims: {vocab: number; embed: number; heads: number; kvHeads: number; headDim: number; ffn: number;
    /** Positions the model can take (learned rows − offset, rotary rows, positionBias columns); Infinity when unlimited. */
    positions: number;
    /** What limits the positions (for messages): 'weights.positionBias', …; null when unlimited. */
    positionLimit: string | null};
}

function positiveInteger(op: string, name: string, x: unknown): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 1) fail(op, `${name} must be a positive integer, got ${String(x)}`);
  return x;
}

function floatTensor(op: string, name: string, x: unknown, shape: number[], layout: string): tf.Tensor {
  const t = requireTensor(op, name, x);
  requireFloat32(op, name, t);
  if (!tf.util.arraysEqual(t.shape, shape)) {
    fail(op, `${name} must have shape ${layout} = ${describeShape(shape)}, got ${describeShape(t.shape)}`);
  }
  return t;
}

export function validateDecoderModel(op: string, weights: unknown, config: unknown): DecoderModelArgs {
  if (weights == null || typeof weights !== 'object' || Array.isArray(weights)) {
    fail(op, `weights must be an object, got ${describeValue(weights)}`);
  }
  if (config == null || typeof config !== 'object' || Array.isArray(config)) {
    fail(op, `config must be an object, got ${describeValue(config)}`);
  }
  const w = weights as DecoderWeights;
  const c = config as DecoderConfig;
  requireKnownKeys(op, 'config', c, CONFIG_KEYS);
  requireKnownKeys(op, 'weights', w, WEIGHT_KEYS);
  const heads = positiveInteger(op, 'config.numHeads', c.numHeads);
  const kvHeads = c.numKvHeads === undefined ? heads : positiveInteger(op, 'config.numKvHeads', c.numKvHeads);
  if (heads % kvHeads !== 0) fail(op, `config.numHeads = ${heads} must be a multiple of config.numKvHeads = ${kvHeads}`);
  const normKind = c.normKind === undefined ? 'layer' : requireOneOf(op, 'config.normKind', c.normKind, ['layer', 'rms'] as const);
  const activation = requireOneOf(op, 'config.activation', c.activation, DECODER_ACTIVATIONS);
  const flag = (name: keyof DecoderConfig, fallback: boolean) =>
    c[name] === undefined ? fallback : requireBoolean(op, `config.${name}`, c[name]);
  const normFirst = flag('normFirst', true);
  const parallel = flag('parallel', false);
  const parallelSharedNorm = flag('parallelSharedNorm', false);
  if (parallelSharedNorm && !parallel) fail(op, 'config.parallelSharedNorm needs config.parallel');
  if (parallel && !normFirst) fail(op, 'config.parallel layers are pre-norm (normFirst must not be false)');
  const rotaryInterleaved = flag('rotaryInterleaved', false);
  const lmHeadTransposed = flag('lmHeadTransposed', false);
  const embeddingNormBeforePositions = flag('embeddingNormBeforePositions', false);
  const normEps = c.normEps === undefined ? 1e-5 : requireFiniteNumber(op, 'config.normEps', c.normEps);
  const finalNormEps = c.finalNormEps === undefined ? normEps : requireFiniteNumber(op, 'config.finalNormEps', c.finalNormEps);
  const embeddingNormEps = c.embeddingNormEps === undefined ? normEps
    : requireFiniteNumber(op, 'config.embeddingNormEps', c.embeddingNormEps);
  if (normEps < 0 || finalNormEps < 0 || embeddingNormEps < 0) fail(op, 'norm epsilons must not be negative');
  const embeddingScale = c.embeddingScale === undefined ? 1 : requireFiniteNumber(op, 'config.embeddingScale', c.embeddingScale);
  const positionOffset = c.positionOffset === undefined ? 0 : c.positionOffset;
  if (!Number.isInteger(positionOffset) || positionOffset < 0) {
    fail(op, `config.positionOffset must be a non-negative integer, got ${String(positionOffset)}`);
  }

  const word = requireTensor(op, 'weights.wordEmbeddings', w.wordEmbeddings);
  requireRank(op, 'weights.wordEmbeddings', word, 2, '[vocab, E]');
  requireFloat32(op, 'weights.wordEmbeddings', word);
  const [vocab, embed] = word.shape;
  if (vocab < 1 || embed < 1) fail(op, `weights.wordEmbeddings must be non-empty, got ${describeShape(word.shape)}`);

  const count = Array.isArray(w.layers) ? w.layers.length : -1;
  if (count < 0) fail(op, `weights.layers must be an array, got ${describeValue(w.layers)}`);
  if (count > MAX_LAYERS) fail(op, `weights.layers has ${count} entries; at most ${MAX_LAYERS} are supported`);

  // Head size from the first layer's q projection.
  const first = count > 0 ? w.layers[0] : undefined;
  let headDim = 0;
  if (first != null && typeof first === 'object') {
    const qkv = first.qkvWeight ?? first.qWeight;
    const t = qkv instanceof tf.Tensor ? qkv : null;
    const width = t && t.rank === 2 ? t.shape[1] : 0;
    headDim = first.qkvWeight ? width / (heads + 2 * kvHeads) : width / heads;
  } else if (count === 0) {
    headDim = embed / heads;
  }
  if (!Number.isInteger(headDim) || headDim < 1) {
    fail(op, `cannot derive the head size D from weights.layers[0]'s q projection and ${heads} heads (${kvHeads} key/value heads)`);
  }
  const qWidth = heads * headDim, kvWidth = kvHeads * headDim;
  const gated = first != null && typeof first === 'object' && first.gateWeight != null;
  const up = first != null && typeof first === 'object' && first.upWeight instanceof tf.Tensor ? first.upWeight : null;
  const ffn = up && up.rank === 2 ? up.shape[1] : 0;

  const layers: DecoderModelArgs['layers'] = [];
  const packed = first != null && typeof first === 'object' && first.qkvWeight != null;
  const cross = first != null && typeof first === 'object' && first.crossQWeight != null;
  if (cross && parallel) fail(op, 'config.parallel: parallel layers cannot have cross-attention (weights.layers[0].crossQWeight is given)');
  for (let l = 0; l < count; l++) {
    const name = `weights.layers[${l}]`;
    const layer = w.layers[l];
    if (layer == null || typeof layer !== 'object') fail(op, `${name} must be an object of tensors, got ${describeValue(layer)}`);
    requireKnownKeys(op, `${name}`, layer, DECODER_LAYER_INPUTS);
    const out: Partial<Record<DecoderLayerInputName, tf.Tensor>> = {};
    const put = (key: DecoderLayerInputName, shape: number[], layout: string, optional: boolean) => {
      const value = layer[key];
      if (value == null) {
        if (!optional) fail(op, `${name}.${key} is required`);
        return;
      }
      out[key] = floatTensor(op, `${name}.${key}`, value, shape, layout);
    };
    put('norm1Gamma', [embed], '[E]', true);
    put('norm1Beta', [embed], '[E]', true);
    put('norm2Gamma', [embed], '[E]', true);
    put('norm2Beta', [embed], '[E]', true);
    if (normKind === 'rms' && (layer.norm1Beta != null || layer.norm2Beta != null)) fail(op, `${name}: an RMSNorm has no beta`);
    if (parallelSharedNorm && (layer.norm2Gamma != null || layer.norm2Beta != null)) {
      fail(op, `${name}: a parallel layer with a shared norm has no norm2`);
    }
    if ((layer.qkvWeight != null) !== packed) fail(op, `${name}: every layer must use the same QKV form (packed or separate) as layer 0`);
    if (packed) {
      if (layer.qWeight != null || layer.kWeight != null || layer.vWeight != null) fail(op, `${name}: give qkvWeight or q/k/vWeight, not both`);
      put('qkvWeight', [embed, qWidth + 2 * kvWidth], '[E, (H + 2·Hkv)·D]', false);
      put('qkvBias', [qWidth + 2 * kvWidth], '[(H + 2·Hkv)·D]', true);
    } else {
      put('qWeight', [embed, qWidth], '[E, H·D]', false);
      put('kWeight', [embed, kvWidth], '[E, Hkv·D]', false);
      put('vWeight', [embed, kvWidth], '[E, Hkv·D]', false);
      put('qBias', [qWidth], '[H·D]', true);
      put('kBias', [kvWidth], '[Hkv·D]', true);
      put('vBias', [kvWidth], '[Hkv·D]', true);
    }
    put('outWeight', [qWidth, embed], '[H·D, E]', false);
    put('outBias', [embed], '[E]', true);
    if ((layer.gateWeight != null) !== gated) fail(op, `${name}: every layer must have a gated MLP or none, as layer 0`);
    if (ffn < 1) fail(op, `weights.layers[0].upWeight must be [E, F] with F >= 1`);
    if (gated) {
      put('gateWeight', [embed, ffn], '[E, F]', false);
      put('gateBias', [ffn], '[F]', true);
    }
    put('upWeight', [embed, ffn], '[E, F]', false);
    put('upBias', [ffn], '[F]', true);
    put('downWeight', [ffn, embed], '[F, E]', false);
    put('downBias', [embed], '[E]', true);
    if (cross) {
      for (const key of ['crossQWeight', 'crossKWeight', 'crossVWeight', 'crossOutWeight'] as const) {
        if (layer[key] == null) fail(op, `${name}.${key} is required: weights.layers[0] has cross-attention (crossQWeight), so every layer has`);
      }
      put('crossNormGamma', [embed], '[E]', true);
      put('crossNormBeta', [embed], '[E]', true);
      if (normKind === 'rms' && layer.crossNormBeta != null) fail(op, `${name}.crossNormBeta: an RMSNorm has no beta`);
      put('crossQWeight', [embed, qWidth], '[E, H·D]', false);
      put('crossQBias', [qWidth], '[H·D]', true);
      put('crossKWeight', [embed, kvWidth], '[E, Hkv·D]', false);
      put('crossKBias', [kvWidth], '[Hkv·D]', true);
      put('crossVWeight', [embed, kvWidth], '[E, Hkv·D]', false);
      put('crossVBias', [kvWidth], '[Hkv·D]', true);
      put('crossOutWeight', [qWidth, embed], '[H·D, E]', false);
      put('crossOutBias', [embed], '[E]', true);
    } else {
      const given = DECODER_CROSS_LAYER_INPUTS.find(key => layer[key] != null);
      if (given) fail(op, `${name}.${given} is given but weights.layers[0] has no cross-attention (no crossQWeight)`);
    }
    layers.push(out);
  }

  const optional = (key: 'positionEmbeddings' | 'rotaryCos' | 'rotarySin' | 'finalNormGamma' | 'finalNormBeta' | 'lmHeadBias'
      | 'positionBias' | 'embeddingNormGamma' | 'embeddingNormBeta',
    shape: (t: tf.Tensor) => number[] | null, layout: string): tf.Tensor | null => {
    const value = w[key];
    if (value == null) return null;
    const t = requireTensor(op, `weights.${key}`, value);
    requireFloat32(op, `weights.${key}`, t);
    const want = shape(t);
    if (want === null || !tf.util.arraysEqual(t.shape, want)) {
      fail(op, `weights.${key} must have shape ${layout}${want ? ` = ${describeShape(want)}` : ''}, got ${describeShape(t.shape)}`);
    }
    return t;
  };
  const rowsOf = (t: tf.Tensor) => (t.shape[0] ?? 0), colsOf = (t: tf.Tensor) => (t.shape[1] ?? 0);
  const positionEmbeddings = optional('positionEmbeddings', t => (t.rank === 2 && rowsOf(t) >= 1 ? [rowsOf(t), embed] : null), '[rows, E]');
  const rotaryCos = optional('rotaryCos', t => (t.rank === 2 && rowsOf(t) >= 1 && colsOf(t) >= 1 ? t.shape : null), '[rows, rotaryDim / 2]');
  const rotarySin = optional('rotarySin', () => (rotaryCos ? rotaryCos.shape : null), 'the shape of rotaryCos');
  if ((rotaryCos === null) !== (rotarySin === null)) fail(op, 'weights.rotaryCos and weights.rotarySin go together');
  const rotaryDim = rotaryCos ? 2 * (rotaryCos.shape[1] as number) : 0;
  if (rotaryDim > headDim) fail(op, `rotaryDim = 2 · rotaryCos.shape[1] = ${rotaryDim} exceeds the head size D = ${headDim}`);
  const finalNormGamma = optional('finalNormGamma', () => [embed], '[E]');
  const finalNormBeta = optional('finalNormBeta', () => [embed], '[E]');
  if (normKind === 'rms' && finalNormBeta) fail(op, 'weights.finalNormBeta: an RMSNorm has no beta');
  const lmHead = floatTensor(op, 'weights.lmHead', w.lmHead, lmHeadTransposed ? [vocab, embed] : [embed, vocab],
      lmHeadTransposed ? '[vocab, E] (lmHeadTransposed)' : '[E, vocab]');
  const lmHeadBias = optional('lmHeadBias', () => [vocab], '[vocab]');
  const positionBias = optional('positionBias', t => (t.rank === 2 && colsOf(t) >= 1 ? [heads, colsOf(t)] : null),
      `[H, P] with H = ${heads}, P >= 1`);
  const embeddingNormGamma = optional('embeddingNormGamma', () => [embed], '[E]');
  const embeddingNormBeta = optional('embeddingNormBeta', () => [embed], '[E]');
  if (normKind === 'rms' && embeddingNormBeta) fail(op, 'weights.embeddingNormBeta: an RMSNorm has no beta');
  if (embeddingNormBeforePositions && embeddingNormGamma === null && embeddingNormBeta === null) {
    fail(op, 'config.embeddingNormBeforePositions needs an embedding norm (weights.embeddingNormGamma or embeddingNormBeta)');
  }

  const scale = c.scale === undefined ? 1 / Math.sqrt(headDim) : requireFiniteNumber(op, 'config.scale', c.scale);
  const limits: Array<[number, string]> = [
    [positionEmbeddings ? (positionEmbeddings.shape[0] as number) - positionOffset : Infinity, 'weights.positionEmbeddings'],
    [rotaryCos ? rotaryCos.shape[0] as number : Infinity, 'weights.rotaryCos'],
    [positionBias ? positionBias.shape[1] as number : Infinity, 'weights.positionBias'],
  ];
  const tightest = limits.reduce((x, y) => (y[0] < x[0] ? y : x));
  return {
    globals: {wordEmbeddings: word, positionEmbeddings, rotaryCos, rotarySin, finalNormGamma, finalNormBeta, lmHead, lmHeadBias,
      positionBias, embeddingNormGamma, embeddingNormBeta},
    layers,
    attrs: {
      numLayers: count, numHeads: heads, numKvHeads: kvHeads, headDim, normKind, normFirst, parallel, parallelSharedNorm,
      activation, gatedMlp: gated, packedQkv: packed, scale, embeddingScale, positionOffset, rotaryDim,
      rotaryInterleaved, hasFinalNorm: finalNormGamma !== null || finalNormBeta !== null, lmHeadTransposed,
      normEps1: layers.map(() => normEps), normEps2: layers.map(() => normEps), finalNormEps,
      logitsRows: 'last', weightPrecision: 'float32',
      crossAttention: cross, fillCrossCache: false, hasSourceMask: false, hasPositionBias: positionBias !== null,
      normEpsCross: layers.map(() => normEps),
      hasEmbeddingNorm: embeddingNormGamma !== null || embeddingNormBeta !== null, embeddingNormEps,
      embeddingNormBeforePositions,
    },
    dims: {vocab, embed, heads, kvHeads, headDim, ffn, positions: Math.max(0, tightest[0]),
      positionLimit: tightest[0] === Infinity ? null : tightest[1]},
  };
}

export interface DecoderStepOptions {
  /** [B] int32: new tokens of each sequence (the first newLengths[b] ids of its row); default N for all. */
  newLengths?: tf.Tensor1D;
  /** 'last' (default): logits [B, vocab] of each sequence's last new token; 'all': [B, N, vocab]. */
  logitsRows?: DecoderLogitsRows;
  /** 'bfloat16': the native `cpu` kernel reads bfloat16 copies of the weights (half the memory traffic). */
  weightPrecision?: WeightPrecision;
  /**
   * The GPU kernel's matrix products (tfjs-node-gpu): 'highest', 'high' or 'medium' (see
   * setGpuPrecision); default getGpuPrecision() at the call. The CPU kernels and the composite
   * compute in float32 and ignore it (weightPrecision is the CPU's choice).
   */
  precision?: GpuPrecision;
  /**
   * [B, S, E] (cross-attention models): before this step every layer's cross keys/values are
   * computed from these encoder states into cache.crossKeyCache/crossValueCache (in place where the
   * backend can; use the returned ones). Give it at the first step of a source, then leave it out.
   */
  encoderStates?: tf.Tensor3D;
}

export function validateStepOptions(op: string, options: unknown): {logitsRows: DecoderLogitsRows;
  weightPrecision: WeightPrecision; precision: GpuPrecision; newLengths: tf.Tensor1D | undefined; encoderStates: unknown} {
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(op, `options must be an object, got ${describeValue(options)}`);
  }
  const o = options as DecoderStepOptions;
  requireKnownKeys(op, 'option', o, ['newLengths', 'logitsRows', 'weightPrecision', 'precision', 'encoderStates']);
  return {
    logitsRows: o.logitsRows === undefined ? 'last' : requireOneOf(op, 'options.logitsRows', o.logitsRows, ['last', 'all'] as const),
    weightPrecision: o.weightPrecision === undefined ? 'float32'
      : requireOneOf(op, 'options.weightPrecision', o.weightPrecision, ['float32', 'bfloat16'] as const),
    precision: resolveGpuPrecision(op, o.precision),
    newLengths: o.newLengths,
    encoderStates: o.encoderStates,
  };
}
