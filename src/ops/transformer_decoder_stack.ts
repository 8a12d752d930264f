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
 */
import * as tf from '@tensorflow/tfjs-core';
import {placeholder, runOp} from '../dispatch/dispatch';
import {DECODER_LAYER_INPUTS, DecoderStackAttrs} from '../op_table';
import {validateCacheLengths} from './cache_lengths';
import {DecoderConfig, DecoderModelArgs, DecoderStepOptions, DecoderWeights, validateDecoderModel,
  validateStepOptions} from './decoder_args';
import {describeShape, describeValue, fail, requireElementCount, requireFloat32, requireRank, requireTensor} from './validate';

export type {DecoderConfig, DecoderLayerWeights, DecoderStepOptions, DecoderWeights} from './decoder_args';

export interface DecoderCache {
  /** [layers, B, Hkv, C, D] */
  keyCache: tf.Tensor;
  /** [layers, B, Hkv, C, D] */
  valueCache: tf.Tensor;
  /** [B] int32 */
  pastLengths: tf.Tensor1D;
}

export interface DecoderStepResult {
  logits: tf.Tensor;
  keyCache: tf.Tensor;
  valueCache: tf.Tensor;
  lengths: tf.Tensor1D;
}

const OP = 'transformerDecoderStack';

/** An empty cache for `layers` layers: zeros [layers, batch, kvHeads, capacity, headDim], pastLengths 0. */
export function createDecoderCache(layers: number, batch: number, kvHeads: number, capacity: number,
    headDim: number): DecoderCache {
  for (const [name, value] of [['layers', layers], ['batch', batch], ['kvHeads', kvHeads], ['capacity', capacity],
    ['headDim', headDim]] as Array<[string, number]>) {
    if (!Number.isInteger(value) || value < 0) fail('createDecoderCache', `${name} must be a non-negative integer, got ${value}`);
  }
  requireElementCount('createDecoderCache', 'the cache', [layers, batch, kvHeads, capacity, headDim], 'layers*B*Hkv*C*D');
  return {
    keyCache: tf.zeros([layers, batch, kvHeads, capacity, headDim]),
    valueCache: tf.zeros([layers, batch, kvHeads, capacity, headDim]),
    pastLengths: tf.zeros([batch], 'int32'),
  };
}

/**
 * The kernel's input list for a checked model and one step's tensors. `absent` stands for every
 * absent weight (one empty tensor may fill every slot; by default a new one per slot).
 */
export function decoderStackInputs(model: DecoderModelArgs, step: {inputIds: tf.Tensor; pastLengths: tf.Tensor;
  newLengths: tf.Tensor; keyCache: tf.Tensor; valueCache: tf.Tensor}, absent: () => tf.Tensor = placeholder): tf.Tensor[] {
  const g = model.globals;
  const inputs: tf.Tensor[] = [
    step.inputIds, step.pastLengths, step.newLengths, step.keyCache, step.valueCache, g.wordEmbeddings,
    g.positionEmbeddings ?? absent(), g.rotaryCos ?? absent(), g.rotarySin ?? absent(),
    g.finalNormGamma ?? absent(), g.finalNormBeta ?? absent(), g.lmHead, g.lmHeadBias ?? absent(),
  ];
  for (const layer of model.layers) {
    for (const name of DECODER_LAYER_INPUTS) inputs.push(layer[name] ?? absent());
  }
  return inputs;
}

/** Checks a step's ids (values in the vocabulary) and positions against the model (values are read). */
export function validateStepTokens(op: string, model: DecoderModelArgs, ids: Int32Array | Uint8Array | Float32Array,
    newTokens: number, past: Int32Array, fresh: Int32Array): void {
  const {vocab, positions} = model.dims;
  for (let b = 0; b < past.length; b++) {
    for (let i = 0; i < fresh[b]; i++) {
      const id = ids[b * newTokens + i];
      if (!(id >= 0 && id < vocab)) fail(op, `inputIds[${b}, ${i}] = ${id} is outside the vocabulary [0, ${vocab})`);
    }
    if (fresh[b] > 0 && past[b] + fresh[b] > positions) {
      fail(op, `sequence ${b} reaches position ${past[b] + fresh[b] - 1}, past the model's ${positions} positions`);
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
  requireElementCount(OP, 'the logits', step.logitsRows === 'all' ? [batch, newTokens, model.dims.vocab] : [batch, model.dims.vocab],
      step.logitsRows === 'all' ? 'B*N*vocab' : 'B*vocab');
  const lengths = validateCacheLengths(OP, cache.pastLengths, step.newLengths, batch, newTokens, capacity);
  try {
    validateStepTokens(OP, model, ids.dataSync() as Int32Array, newTokens, lengths.past, lengths.fresh);
    const attrs: DecoderStackAttrs = {...model.attrs, logitsRows: step.logitsRows, weightPrecision: step.weightPrecision};
    const [logits, nextKeys, nextValues, next] = tf.tidy(() => runOp('TransformerDecoderStack', decoderStackInputs(model, {
      inputIds: ids, pastLengths: lengths.pastLengths, newLengths: lengths.newLengths,
      keyCache, valueCache: cache.valueCache,
    }), attrs));
    return {logits, keyCache: nextKeys, valueCache: nextValues, lengths: next as tf.Tensor1D};
  } finally {
    if (lengths.ownsNewLengths) lengths.newLengths.dispose();
  }
}
