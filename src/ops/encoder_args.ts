/** Validation and normalisation of transformerEncoderLayer's arguments. */
import * as tf from '@tensorflow/tfjs-core';
import type {GpuPrecision} from '../config';
import {
  ENCODER_ACTIVATIONS, ENCODER_COMMON_WEIGHT_INPUTS, ENCODER_NORM_KINDS, ENCODER_OPTIONAL_WEIGHT_INPUTS,
  ENCODER_PACKED_QKV_INPUTS, ENCODER_SEPARATE_QKV_INPUTS, EncoderActivation, EncoderLayerAttrs, EncoderNormKind,
} from '../op_table';
import {
  describeShape, describeValue, fail, requireBoolean, requireElementCount, requireFiniteNumber, requireFloat32,
  requireFloatShape, requireKnownKeys, requireOneOf, requirePaddingMask, requireRank, requireTensor,
  resolveGpuPrecision,
} from './validate';

/**
 * Weights in the Keras/tfjs Dense layout, [in, out] (y = x·W + b). QKV is
 * either packed (qkvWeight [E, 3E]: all Q columns, then K, then V; head h
 * owns columns h·Dh .. (h+1)·Dh - 1 of each) or separate (q/k/v Weight [E, E]).
 * Every bias and LayerNorm beta is optional (absent = 0; T5 has none); with
 * normKind 'rms' the norms have no beta. gateWeight [E, F] (with an optional
 * gateBias [F]) makes the MLP gated: ffnOut(act(x·gateWeight + gateBias) ·
 * (x·ffnInWeight + ffnInBias)) + ffnOutBias (T5 v1.1 "gated-gelu": gate = wi_0,
 * ffnIn = wi_1).
 */
export interface TransformerEncoderLayerWeights {
  qkvWeight?: tf.Tensor2D; qkvBias?: tf.Tensor1D;
  qWeight?: tf.Tensor2D; kWeight?: tf.Tensor2D; vWeight?: tf.Tensor2D;
  qBias?: tf.Tensor1D; kBias?: tf.Tensor1D; vBias?: tf.Tensor1D;
  outWeight: tf.Tensor2D; outBias?: tf.Tensor1D;
  ln1Gamma: tf.Tensor1D; ln1Beta?: tf.Tensor1D;
  ln2Gamma: tf.Tensor1D; ln2Beta?: tf.Tensor1D;
  ffnInWeight: tf.Tensor2D; ffnInBias?: tf.Tensor1D;
  ffnOutWeight: tf.Tensor2D; ffnOutBias?: tf.Tensor1D;
  gateWeight?: tf.Tensor2D; gateBias?: tf.Tensor1D;
}

export interface TransformerEncoderLayerOptions {
  numHeads: number;
  /** Pre-norm (GPT-2, ViT) when true; post-norm (BERT) when false (default). */
  normFirst?: boolean;
  /** 'gelu' (erf, default), 'gelu_tanh', 'relu' or 'silu' (swish: Marian). */
  activation?: EncoderActivation;
  /** 'layer' (LayerNorm, default) or 'rms' (RMSNorm x / sqrt(mean(x²) + eps) · gamma, no beta: T5). */
  normKind?: EncoderNormKind;
  /** One eps for both norms (LayerNorms or RMSNorms), or [ln1Eps, ln2Eps]. Default 1e-5. */
  layerNormEps?: number | [number, number];
  /** [B, S], 1 = real token, 0 = padding. Padded positions are skipped and output 0. */
  keyPaddingMask?: tf.Tensor2D;
  /** Each token attends only to itself and earlier tokens. */
  isCausal?: boolean;
  /** Attention scale, default 1/sqrt(E / numHeads). */
  scale?: number;
  /**
   * float32 [1, H, S, S] or [B, H, S, S], added to scale · q·kᵀ of the attention
   * (of every layer, for the stack) at query i, key j — T5's relative position
   * bias; padded keys stay excluded and isCausal still applies.
   */
  attentionBias?: tf.Tensor4D;
  /**
   * The GPU kernel's matrix products (tfjs-node-gpu): 'highest' (FP32), 'high' (TF32 tensor cores)
   * or 'medium' (bfloat16 tensor cores), FP32 accumulation at each; norms, softmax statistics and
   * residuals stay FP32. Default: getGpuPrecision() at the call. The CPU kernels and the composite
   * compute in float32 and ignore it.
   */
  precision?: GpuPrecision;
}

const OPTION_KEYS = [
  'numHeads', 'normFirst', 'activation', 'normKind', 'layerNormEps', 'keyPaddingMask', 'isCausal', 'scale',
  'attentionBias', 'precision',
];
const WEIGHT_KEYS = [...ENCODER_PACKED_QKV_INPUTS, ...ENCODER_SEPARATE_QKV_INPUTS, ...ENCODER_COMMON_WEIGHT_INPUTS];

export interface EncoderArgs {
  x: tf.Tensor3D;
  /** The weights given (of the QKV form in use), by kernel input name; absent optional ones are missing. */
  weights: Record<string, tf.Tensor>;
  keyPaddingMask: tf.Tensor | null;
  attentionBias: tf.Tensor | null;
  attrs: EncoderLayerAttrs;
  dims: {batch: number; seq: number; embed: number; ffn: number};
}

/** x and the options, checked and normalised (shared by the layer and the stack op). */
export interface EncoderOptionArgs {
  x: tf.Tensor3D;
  keyPaddingMask: tf.Tensor | null;
  attentionBias: tf.Tensor | null;
  numHeads: number; normFirst: boolean; activation: EncoderActivation; isCausal: boolean; scale: number;
  normKind: EncoderNormKind;
  eps1: number; eps2: number;
  precision: GpuPrecision;
  dims: {batch: number; seq: number; embed: number};
}

export function validateEncoderOptions(op: string, x: unknown, options: unknown): EncoderOptionArgs {
  const xt = requireTensor(op, 'x', x);
  requireRank(op, 'x', xt, 3, '[B, S, E]');
  requireFloat32(op, 'x', xt);
  const [batch, seq, embed] = xt.shape as number[];
  if (embed < 1) fail(op, `x must have an embedding size E of at least 1, got shape ${describeShape(xt.shape)}`);

  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(op, `options must be an object with at least numHeads, got ${describeValue(options)}`);
  }
  const opts = options as TransformerEncoderLayerOptions;
  requireKnownKeys(op, 'option', opts, OPTION_KEYS);
  const numHeads = opts.numHeads;
  if (typeof numHeads !== 'number' || !Number.isInteger(numHeads) || numHeads < 1) {
    fail(op, `options.numHeads must be a positive integer, got ${describeValue(numHeads)} ${String(numHeads)}`);
  }
  if (embed % numHeads !== 0) {
    fail(op, `the embedding size E = ${embed} must be divisible by options.numHeads = ${numHeads}`);
  }
  const normFirst = opts.normFirst === undefined ? false : requireBoolean(op, 'options.normFirst', opts.normFirst);
  const isCausal = opts.isCausal === undefined ? false : requireBoolean(op, 'options.isCausal', opts.isCausal);
  const activation = opts.activation === undefined ? 'gelu' :
                                                     requireOneOf(op, 'options.activation', opts.activation, ENCODER_ACTIVATIONS);
  const scale = opts.scale === undefined ? 1 / Math.sqrt(embed / numHeads) :
                                           requireFiniteNumber(op, 'options.scale', opts.scale);
  const normKind = opts.normKind === undefined ? 'layer' :
                                                 requireOneOf(op, 'options.normKind', opts.normKind, ENCODER_NORM_KINDS);
  let eps1 = 1e-5, eps2 = 1e-5;
  if (Array.isArray(opts.layerNormEps)) {
    if (opts.layerNormEps.length !== 2) fail(op, `options.layerNormEps must be a number or [ln1Eps, ln2Eps]`);
    eps1 = requireFiniteNumber(op, 'options.layerNormEps[0]', opts.layerNormEps[0]);
    eps2 = requireFiniteNumber(op, 'options.layerNormEps[1]', opts.layerNormEps[1]);
  } else if (opts.layerNormEps !== undefined) {
    eps1 = eps2 = requireFiniteNumber(op, 'options.layerNormEps', opts.layerNormEps);
  }
  if (eps1 < 0 || eps2 < 0) fail(op, `options.layerNormEps must not be negative, got ${eps1}, ${eps2}`);
  const precision = resolveGpuPrecision(op, opts.precision);

  const keyPaddingMask = opts.keyPaddingMask == null ? null :
      requirePaddingMask(op, 'options.keyPaddingMask', opts.keyPaddingMask, [batch, seq], '[B, S]');
  const attentionBias = opts.attentionBias == null ? null :
      requireAttentionBias(op, opts.attentionBias, batch, numHeads, seq);
  return {
    x: xt as tf.Tensor3D, keyPaddingMask, attentionBias, numHeads, normFirst, activation, isCausal, scale, normKind,
    eps1, eps2, precision, dims: {batch, seq, embed},
  };
}

/** options.attentionBias: float32 [1 or B, H, S, S]. */
function requireAttentionBias(op: string, x: unknown, batch: number, heads: number, seq: number): tf.Tensor {
  const name = 'options.attentionBias';
  const t = requireTensor(op, name, x);
  requireRank(op, name, t, 4, '[1 or B, H, S, S]');
  requireFloat32(op, name, t);
  const [b, h, sq, sk] = t.shape;
  const got = describeShape(t.shape);
  if (b !== 1 && b !== batch) fail(op, `${name} must have a batch axis of 1 or B = ${batch} ([1 or B, H, S, S]), got ${got}`);
  if (h !== heads) fail(op, `${name} must have H = options.numHeads = ${heads} heads (axis 1 of [1 or B, H, S, S]), got ${got}`);
  if (sq !== seq || sk !== seq) {
    fail(op, `${name} must have S = ${seq} query and key positions (axes 2 and 3 of [1 or B, H, S, S]), got ${got}`);
  }
  return t;
}

/** One layer's weights, checked against E; `label` names them in messages ('weights', 'layers[2]'). */
export interface EncoderWeightArgs {
  /** The weights given (of the QKV form in use), by kernel input name; absent optional ones are missing. */
  weights: Record<string, tf.Tensor>;
  packedQkv: boolean;
  /** gateWeight is given: the MLP is gated. */
  gated: boolean;
  ffn: number;
}

const OPTIONAL = new Set<string>(ENCODER_OPTIONAL_WEIGHT_INPUTS);

export function validateEncoderWeights(
    op: string, label: string, weights: unknown, embed: number, normKind: EncoderNormKind): EncoderWeightArgs {
  if (weights == null || typeof weights !== 'object' || Array.isArray(weights)) {
    fail(op, `${label} must be an object of tensors, got ${describeValue(weights)}`);
  }
  const w = weights as Record<string, unknown>;
  requireKnownKeys(op, label === 'weights' ? 'weight' : `${label} weight`, w, WEIGHT_KEYS);
  const hasPacked = w.qkvWeight != null || w.qkvBias != null;
  const hasSeparate = ENCODER_SEPARATE_QKV_INPUTS.some(name => w[name] != null);
  if (hasPacked && hasSeparate) {
    fail(op, `${label} must give the QKV projection either packed (qkvWeight, qkvBias) or separate ` +
             '(qWeight, kWeight, vWeight, qBias, kBias, vBias), not both');
  }
  if (!hasPacked && !hasSeparate) {
    fail(op, `${label} must give the QKV projection, packed (qkvWeight, qkvBias) or separate ` +
             '(qWeight, kWeight, vWeight, qBias, kBias, vBias)');
  }
  if (normKind === 'rms') {
    for (const name of ['ln1Beta', 'ln2Beta']) {
      if (w[name] != null) fail(op, `${label}.${name} must be absent with options.normKind 'rms' (RMSNorm has no beta)`);
    }
  }
  const gated = w.gateWeight != null;
  if (!gated && w.gateBias != null) {
    fail(op, `${label}.gateBias is given without ${label}.gateWeight (a gated MLP needs gateWeight [E, F])`);
  }
  const ffnWeight = requireTensor(op, `${label}.ffnInWeight`, w.ffnInWeight);
  requireRank(op, `${label}.ffnInWeight`, ffnWeight, 2, '[E, F]');
  const ffn = (ffnWeight.shape as number[])[1];
  if (ffn < 1) {
    fail(op, `${label}.ffnInWeight must have at least one output column, got ${describeShape(ffnWeight.shape)}`);
  }

  const expected: Record<string, [number[], string]> = {
    outWeight: [[embed, embed], '[E, E]'], outBias: [[embed], '[E]'],
    ln1Gamma: [[embed], '[E]'], ln1Beta: [[embed], '[E]'], ln2Gamma: [[embed], '[E]'], ln2Beta: [[embed], '[E]'],
    ffnInWeight: [[embed, ffn], '[E, F]'], ffnInBias: [[ffn], '[F]'],
    ffnOutWeight: [[ffn, embed], '[F, E]'], ffnOutBias: [[embed], '[E]'],
    gateWeight: [[embed, ffn], '[E, F] (F from ffnInWeight)'], gateBias: [[ffn], '[F]'],
  };
  if (hasPacked) {
    expected.qkvWeight = [[embed, 3 * embed], '[E, 3E]'];
    expected.qkvBias = [[3 * embed], '[3E]'];
  } else {
    for (const name of ['qWeight', 'kWeight', 'vWeight']) expected[name] = [[embed, embed], '[E, E]'];
    for (const name of ['qBias', 'kBias', 'vBias']) expected[name] = [[embed], '[E]'];
  }
  const checked: Record<string, tf.Tensor> = {};
  for (const [name, [shape, layout]] of Object.entries(expected)) {
    if (w[name] == null) {
      if (OPTIONAL.has(name)) continue;
      fail(op, `${label}.${name} is missing (expected a float32 tensor of shape ${layout})`);
    }
    checked[name] = requireFloatShape(op, `${label}.${name}`, w[name], shape, layout);
  }
  return {weights: checked, packedQkv: hasPacked, gated, ffn};
}

/** The activations a layer of this size allocates ([B·S, 3E] for Q/K/V, [B·S, F] in the feed-forward) must fit. */
export function requireEncoderActivations(op: string, dims: {batch: number; seq: number; embed: number}, ffn: number): void {
  requireElementCount(op, 'the Q/K/V projection', [dims.batch, dims.seq, 3 * dims.embed], 'B*S*3E');
  requireElementCount(op, 'the feed-forward activation', [dims.batch, dims.seq, ffn], 'B*S*F');
}

export function validateEncoderArgs(op: string, x: unknown, weights: unknown, options: unknown): EncoderArgs {
  const o = validateEncoderOptions(op, x, options);
  const w = validateEncoderWeights(op, 'weights', weights, o.dims.embed, o.normKind);
  requireEncoderActivations(op, o.dims, w.ffn);
  return {
    x: o.x, weights: w.weights, keyPaddingMask: o.keyPaddingMask, attentionBias: o.attentionBias,
    attrs: {
      numHeads: o.numHeads, normFirst: o.normFirst, activation: o.activation, layerNormEps1: o.eps1,
      layerNormEps2: o.eps2, isCausal: o.isCausal, scale: o.scale, packedQkv: w.packedQkv,
      hasKeyPaddingMask: o.keyPaddingMask != null, normKind: o.normKind, gatedMlp: w.gated,
      hasAttentionBias: o.attentionBias != null, precision: o.precision,
    },
    dims: {...o.dims, ffn: w.ffn},
  };
}
