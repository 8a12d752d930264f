/**
 * One step of a decoder-only language model as one op: embeddings at each
 * token's position, every layer (norm, QKV, rotary, attention over the
 * sequence's cached keys/values with the new ones appended in place, output
 * projection, MLP, residuals), the final norm and the LM head.
 *
 * - inputIds [B, N] int32: row b's first newLengths[b] ids are its new tokens,
 *   at positions pastLengths[b] + i (the rest is padding, never read).
 * - cache.keyCache / cache.valueCache [layers, B, Hkv, C, D], donated as in
 *   attentionWithKVCache (updated in place where the backend can: use the
 *   returned ones); cache.pastLengths [B] int32.
 * - Returns logits ([B, vocab] for each sequence's last new token, or
 *   [B, N, vocab] with logitsRows 'all'; rows without a token are 0), the
 *   caches and lengths = past + new.
 * A prompt is a step with N = its length (prefill); generating is steps of
 * N = 1. Capacity, vocabulary and position limits are checked before anything
 * is written.
 *
 * Encoder–decoder models (layers with cross-attention weights): the cache also
 * holds crossKeyCache/crossValueCache [layers, B, Hkv, S, D] and optionally
 * sourceMask [B, S]; the step that gets options.encoderStates [B, S, E] first
 * fills the cross caches from them (in place where the backend can).
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOp} from '../dispatch/dispatch';
import {DECODER_LAYER_INPUTS, DecoderStackAttrs} from '../op_table';
import {validateCacheLengths} from './cache_lengths';
import {DecoderConfig, DecoderModelArgs, DecoderStepOptions, DecoderWeights, validateDecoderModel,
  validateStepOptions} from './decoder_args';
import {CrossStepTensors, validateCrossStep} from './cross_cache';
import {describeShape, describeValue, fail, requireElementCount, requireFloat32, requireRank, requireTensor} from './validate';

export type {DecoderConfig, DecoderLayerWeights, DecoderStepOptions, DecoderWeights} from './decoder_args';

export interface DecoderCache {
  /** [layers, B, Hkv, C, D] */
  keyCache: tf.Tensor;
  /** [layers, B, Hkv, C, D] */
  valueCache: tf.Tensor;
  /** [B] int32 */
  pastLengths: tf.Tensor1D;
  /** Cross-attention models: [layers, B, Hkv, S, D], filled by a step given options.encoderStates. */
  crossKeyCache?: tf.Tensor;
  crossValueCache?: tf.Tensor;
  /** [B, S] int32, nonzero = a real source token (absent: all real); every row needs one. */
  sourceMask?: tf.Tensor2D;
}

export interface DecoderStepResult {
  logits: tf.Tensor;
  keyCache: tf.Tensor;
  valueCache: tf.Tensor;
  lengths: tf.Tensor1D;
  /** Cross-attention models: the cross caches (the cache's, filled in place where the backend can). */
  crossKeyCache?: tf.Tensor;
  crossValueCache?: tf.Tensor;
}

const OP = 'transformerDecoderStack';

/**
 * An empty cache for `layers` layers: zeros [layers, batch, kvHeads, capacity, headDim], pastLengths 0;
 * with `cross`, zero cross caches [layers, batch, kvHeads, sourceLength, headDim] too (filled by the
 * first step given options.encoderStates).
 */
export function createDecoderCache(layers: number, batch: number, kvHeads: number, capacity: number,
    headDim: number, cross?: {sourceLength: number}): DecoderCache {
  const op = 'createDecoderCache';
  for (const [name, value] of [['layers', layers], ['batch', batch], ['kvHeads', kvHeads], ['capacity', capacity],
    ['headDim', headDim]] as Array<[string, number]>) {
    if (!Number.isInteger(value) || value < 0) fail(op, `${name} must be a non-negative integer, got ${value}`);
  }
  requireElementCount(op, 'the cache', [layers, batch, kvHeads, capacity, headDim], 'layers*B*Hkv*C*D');
  if (cross !== undefined) {
    if (cross == null || typeof cross !== 'object') fail(op, `cross must be {sourceLength}, got ${describeValue(cross)}`);
    const sourceLength = cross.sourceLength;
    if (!Number.isInteger(sourceLength) || sourceLength < 1) {
      fail(op, `cross.sourceLength must be a positive integer, got ${String(sourceLength)}`);
    }
    requireElementCount(op, 'the cross cache', [layers, batch, kvHeads, sourceLength, headDim], 'layers*B*Hkv*S*D');
  }
  const cache: DecoderCache = {
    keyCache: tf.zeros([layers, batch, kvHeads, capacity, headDim]),
    valueCache: tf.zeros([layers, batch, kvHeads, capacity, headDim]),
    pastLengths: tf.zeros([batch], 'int32'),
  };
  if (cross !== undefined) {
    cache.crossKeyCache = tf.zeros([layers, batch, kvHeads, cross.sourceLength, headDim]);
    cache.crossValueCache = tf.zeros([layers, batch, kvHeads, cross.sourceLength, headDim]);
  }
  return cache;
}

/** A step's tensors: the ids, lengths and caches, and the encoder side where the model has cross-attention. */
export interface DecoderStepTensors {
  inputIds: tf.Tensor;
  pastLengths: tf.Tensor;
  newLengths: tf.Tensor;
  keyCache: tf.Tensor;
  valueCache: tf.Tensor;
  /** [B, S, E]: fill the cross caches first (attrs.fillCrossCache must be true). */
  encoderStates?: tf.Tensor | null;
  /** [B, S] int32 (attrs.hasSourceMask must be true). */
  sourceMask?: tf.Tensor | null;
  crossKeyCache?: tf.Tensor | null;
  crossValueCache?: tf.Tensor | null;
}

/**
 * The kernel's attributes for a checked model and one step: fillCrossCache and hasSourceMask follow
 * the step's tensors (the model's attrs leave them false); the step's options give logitsRows,
 * weightPrecision and the GPU precision.
 */
export function decoderStepAttrs(model: DecoderModelArgs, step: DecoderStepTensors, options: {
  logitsRows: DecoderStackAttrs['logitsRows']; weightPrecision: DecoderStackAttrs['weightPrecision'];
  precision: DecoderStackAttrs['precision'];
}): DecoderStackAttrs {
  return {
    ...model.attrs, logitsRows: options.logitsRows, weightPrecision: options.weightPrecision,
    precision: options.precision,
    fillCrossCache: step.encoderStates != null, hasSourceMask: step.sourceMask != null,
  };
}

/**
 * The kernel's input list for a checked model and one step's tensors. `absent` stands for every
 * absent weight (one empty tensor may fill every slot; by default a new one per slot).
 */
export function decoderStackInputs(model: DecoderModelArgs, step: DecoderStepTensors,
    absent: () => tf.Tensor = placeholder): tf.Tensor[] {
  const g = model.globals;
  const inputs: tf.Tensor[] = [
    step.inputIds, step.pastLengths, step.newLengths, step.keyCache, step.valueCache, g.wordEmbeddings,
    g.positionEmbeddings ?? absent(), g.rotaryCos ?? absent(), g.rotarySin ?? absent(),
    g.finalNormGamma ?? absent(), g.finalNormBeta ?? absent(), g.lmHead, g.lmHeadBias ?? absent(),
    g.positionBias ?? absent(), step.encoderStates ?? absent(), step.sourceMask ?? absent(),
    step.crossKeyCache ?? absent(), step.crossValueCache ?? absent(), g.embeddingNormGamma ?? absent(),
    g.embeddingNormBeta ?? absent(),
  ];
  for (const layer of model.layers) {
    for (const name of DECODER_LAYER_INPUTS) inputs.push(layer[name] ?? absent());
  }
  return inputs;
}

/** Checks a step's ids (values in the vocabulary) and positions against the model (values are read). */
export function validateStepTokens(op: string, model: DecoderModelArgs, ids: Int32Array | Uint8Array | Float32Array,
    newTokens: number, past: Int32Array, fresh: Int32Array): void {
  const {vocab, positions, positionLimit} = model.dims;
  for (let b = 0; b < past.length; b++) {
    for (let i = 0; i < fresh[b]; i++) {
      const id = ids[b * newTokens + i];
      if (!(id >= 0 && id < vocab)) fail(op, `inputIds[${b}, ${i}] = ${id} is outside the vocabulary [0, ${vocab})`);
    }
    if (fresh[b] > 0 && past[b] + fresh[b] > positions) {
      fail(op, `sequence ${b} reaches position ${past[b] + fresh[b] - 1}, past the model's ${positions} positions (${positionLimit})`);
    }
  }
}

export function transformerDecoderStack(inputIds: tf.Tensor2D, weights: DecoderWeights, config: DecoderConfig,
    cache: DecoderCache, options: DecoderStepOptions = {}): DecoderStepResult {
  const model = validateDecoderModel(OP, weights, config);
  const step = validateStepOptions(OP, options);
  const ids = requireTensor(OP, 'inputIds', inputIds);
  if (ids.dtype !== 'int32') fail(OP, `inputIds must have dtype int32, got ${ids.dtype}`);
  requireRank(OP, 'inputIds', ids, 2, '[B, N]');
  const [batch, newTokens] = ids.shape as [number, number];
  if (cache == null || typeof cache !== 'object') fail(OP, `cache must be {keyCache, valueCache, pastLengths}, got ${describeValue(cache)}`);
  const {numLayers, numKvHeads, headDim} = model.attrs;
  const keyCache = requireTensor(OP, 'cache.keyCache', cache.keyCache);
  requireRank(OP, 'cache.keyCache', keyCache, 5, '[layers, B, Hkv, C, D]');
  requireFloat32(OP, 'cache.keyCache', keyCache);
  const capacity = keyCache.shape[3] as number;
  const cacheShape = [numLayers, batch, numKvHeads, capacity, headDim];
  for (const [name, t] of [['cache.keyCache', keyCache], ['cache.valueCache', requireTensor(OP, 'cache.valueCache', cache.valueCache)]] as const) {
    requireFloat32(OP, name, t);
    if (!tf.util.arraysEqual(t.shape, cacheShape)) {
      fail(OP, `${name} must have shape [layers, B, Hkv, C, D] = ${describeShape(cacheShape)}, got ${describeShape(t.shape)}`);
    }
  }
  const cross: CrossStepTensors = validateCrossStep(OP, model, cache, step.encoderStates, batch);
  requireElementCount(OP, 'the logits', step.logitsRows === 'all' ? [batch, newTokens, model.dims.vocab] : [batch, model.dims.vocab],
      step.logitsRows === 'all' ? 'B*N*vocab' : 'B*vocab');
  const lengths = validateCacheLengths(OP, cache.pastLengths, step.newLengths, batch, newTokens, capacity);
  try {
    validateStepTokens(OP, model, ids.dataSync() as Int32Array, newTokens, lengths.past, lengths.fresh);
    const tensors: DecoderStepTensors = {
      inputIds: ids, pastLengths: lengths.pastLengths, newLengths: lengths.newLengths, keyCache, valueCache: cache.valueCache,
      ...cross,
    };
    const attrs = decoderStepAttrs(model, tensors, step);
    const [logits, nextKeys, nextValues, next, crossKeys, crossValues] =
        tf.tidy(() => runOp('TransformerDecoderStack', decoderStackInputs(model, tensors), attrs));
    const result: DecoderStepResult = {logits, keyCache: nextKeys, valueCache: nextValues, lengths: next as tf.Tensor1D};
    if (model.attrs.crossAttention) {
      result.crossKeyCache = crossKeys;
      result.crossValueCache = crossValues;
    } else {
      // The placeholders passed through: nothing for the caller.
      tf.dispose([crossKeys, crossValues].filter(t => t != null));
    }
    return result;
  } finally {
    if (lengths.ownsNewLengths) lengths.newLengths.dispose();
  }
}
