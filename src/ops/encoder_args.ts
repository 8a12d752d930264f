/** Validation and normalisation of transformerEncoderLayer's arguments. */
import * as tf from '@tensorflow/tfjs-core';
import {
  ENCODER_ACTIVATIONS, ENCODER_COMMON_WEIGHT_INPUTS, ENCODER_PACKED_QKV_INPUTS, ENCODER_SEPARATE_QKV_INPUTS,
  EncoderActivation, EncoderLayerAttrs,
} from '../op_table';
import {
  describeShape, describeValue, fail, requireBoolean, requireElementCount, requireFiniteNumber, requireFloat32,
  requireFloatShape, requireKnownKeys, requireOneOf, requirePaddingMask, requireRank, requireTensor,
} from './validate';

/**
 * Weights in the Keras/tfjs Dense layout, [in, out] (y = x·W + b). QKV is
 * either packed (qkvWeight [E, 3E]: all Q columns, then K, then V; head h
 * owns columns h·Dh .. (h+1)·Dh - 1 of each) or separate (q/k/v Weight [E, E]).
 */
export interface TransformerEncoderLayerWeights {
  qkvWeight?: tf.Tensor2D; qkvBias?: tf.Tensor1D;
  qWeight?: tf.Tensor2D; kWeight?: tf.Tensor2D; vWeight?: tf.Tensor2D;
  qBias?: tf.Tensor1D; kBias?: tf.Tensor1D; vBias?: tf.Tensor1D;
  outWeight: tf.Tensor2D; outBias: tf.Tensor1D;
  ln1Gamma: tf.Tensor1D; ln1Beta: tf.Tensor1D;
  ln2Gamma: tf.Tensor1D; ln2Beta: tf.Tensor1D;
  ffnInWeight: tf.Tensor2D; ffnInBias: tf.Tensor1D;
  ffnOutWeight: tf.Tensor2D; ffnOutBias: tf.Tensor1D;
}

export interface TransformerEncoderLayerOptions {
  numHeads: number;
  /** Pre-norm (GPT-2, ViT) when true; post-norm (BERT) when false (default). */
  normFirst?: boolean;
  /** 'gelu' (erf, default), 'gelu_tanh' or 'relu'. */
  activation?: EncoderActivation;
  /** One eps for both LayerNorms, or [ln1Eps, ln2Eps]. Default 1e-5. */
  layerNormEps?: number | [number, number];
  /** [B, S], 1 = real token, 0 = padding. Padded positions are skipped and output 0. */
  keyPaddingMask?: tf.Tensor2D;
  /** Each token attends only to itself and earlier tokens. */
  isCausal?: boolean;
  /** Attention scale, default 1/sqrt(E / numHeads). */
  scale?: number;
}

const OPTION_KEYS = ['numHeads', 'normFirst', 'activation', 'layerNormEps', 'keyPaddingMask', 'isCausal', 'scale'];
const WEIGHT_KEYS = [...ENCODER_PACKED_QKV_INPUTS, ...ENCODER_SEPARATE_QKV_INPUTS, ...ENCODER_COMMON_WEIGHT_INPUTS];

export interface EncoderArgs {
  x: tf.Tensor3D;
  /** Only the weights of the QKV form in use, plus the common ones, by kernel input name. */
  weights: Record<string, tf.Tensor>;
  keyPaddingMask: tf.Tensor | null;
  attrs: EncoderLayerAttrs;
  dims: {batch: number; seq: number; embed: number; ffn: number};
}

/** x and the options, checked and normalised (shared by the layer and the stack op). */
export interface EncoderOptionArgs {
  x: tf.Tensor3D;
  keyPaddingMask: tf.Tensor | null;
  numHeads: number; normFirst: boolean; activation: EncoderActivation; isCausal: boolean; scale: number;
  eps1: number; eps2: number;
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
  let eps1 = 1e-5, eps2 = 1e-5;
  if (Array.isArray(opts.layerNormEps)) {
    if (opts.layerNormEps.length !== 2) fail(op, `options.layerNormEps must be a number or [ln1Eps, ln2Eps]`);
    eps1 = requireFiniteNumber(op, 'options.layerNormEps[0]', opts.layerNormEps[0]);
    eps2 = requireFiniteNumber(op, 'options.layerNormEps[1]', opts.layerNormEps[1]);
  } else if (opts.layerNormEps !== undefined) {
    eps1 = eps2 = requireFiniteNumber(op, 'options.layerNormEps', opts.layerNormEps);
  }
  if (eps1 < 0 || eps2 < 0) fail(op, `options.layerNormEps must not be negative, got ${eps1}, ${eps2}`);

  const keyPaddingMask = opts.keyPaddingMask == null ? null :
      requirePaddingMask(op, 'options.keyPaddingMask', opts.keyPaddingMask, [batch, seq], '[B, S]');
  return {
    x: xt as tf.Tensor3D, keyPaddingMask, numHeads, normFirst, activation, isCausal, scale, eps1, eps2,
    dims: {batch, seq, embed},
  };
}

/** One layer's weights, checked against E; `label` names them in messages ('weights', 'layers[2]'). */
export interface EncoderWeightArgs {
  /** Only the weights of the QKV form in use, plus the common ones, by kernel input name. */
  weights: Record<string, tf.Tensor>;
  packedQkv: boolean;
  ffn: number;
}

export function validateEncoderWeights(op: string, label: string, weights: unknown, embed: number): EncoderWeightArgs {
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
    if (w[name] == null) fail(op, `${label}.${name} is missing (expected a float32 tensor of shape ${layout})`);
    checked[name] = requireFloatShape(op, `${label}.${name}`, w[name], shape, layout);
  }
  return {weights: checked, packedQkv: hasPacked, ffn};
}

/** The activations a layer of this size allocates ([B·S, 3E] for Q/K/V, [B·S, F] in the feed-forward) must fit. */
export function requireEncoderActivations(op: string, dims: {batch: number; seq: number; embed: number}, ffn: number): void {
  requireElementCount(op, 'the Q/K/V projection', [dims.batch, dims.seq, 3 * dims.embed], 'B*S*3E');
  requireElementCount(op, 'the feed-forward activation', [dims.batch, dims.seq, ffn], 'B*S*F');
}

export function validateEncoderArgs(op: string, x: unknown, weights: unknown, options: unknown): EncoderArgs {
  const o = validateEncoderOptions(op, x, options);
  const w = validateEncoderWeights(op, 'weights', weights, o.dims.embed);
  requireEncoderActivations(op, o.dims, w.ffn);
  return {
    x: o.x, weights: w.weights, keyPaddingMask: o.keyPaddingMask,
    attrs: {
      numHeads: o.numHeads, normFirst: o.normFirst, activation: o.activation, layerNormEps1: o.eps1,
      layerNormEps2: o.eps2, isCausal: o.isCausal, scale: o.scale, packedQkv: w.packedQkv,
      hasKeyPaddingMask: o.keyPaddingMask != null,
    },
    dims: {...o.dims, ffn: w.ffn},
  };
}
