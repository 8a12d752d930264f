/**
 * TransformerDecoderStack as plain tfjs ops, for backends without the fused
 * kernel (and as the reference the fused kernels are tested against). Every
 * row of inputIds is computed (padding rows with their ids and positions
 * clamped into range, then ignored); each layer's cache comes back as a new
 * tensor (immutable tfjs tensors), so a step copies the caches — the fused
 * `cpu` and `tensorflow` kernels append in place instead. Cross caches filled
 * from encoder states come back as new tensors too (else as clones of the
 * inputs); the position bias becomes an additive mask over the cache.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {runOpResult} from '../dispatch/dispatch';
import {
  DecoderActivation, DecoderLayerInputName, decoderLayerInput, DecoderStackAttrs, decoderStackInput,
  DecoderStackInputName, SdpaAttrs,
} from '../op_table';
import {appendRows, cacheVisibility} from './AttentionWithKVCache';
import {layerNormOf} from './LayerNorm';
import {rmsNormOf} from './RmsNorm';
import {rotaryOf} from './RotaryEmbedding';
import {applyActivation} from './TransformerEncoderLayer';

export function decoderActivation(x: tf.Tensor, activation: DecoderActivation): tf.Tensor {
  return activation === 'silu' ? tf.mul(x, tf.sigmoid(x)) : applyActivation(x, activation);
}

/** x [rows, in] · w [in, out] + bias (a [0]-shaped bias is none). */
function dense(x: tf.Tensor, w: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const y = tf.matMul(x, w);
  return bias.size > 0 ? tf.add(y, bias) : y;
}

export const compositeTransformerDecoderStack: CompositeFunc = (inputs, attrs) => {
  const a = attrs as unknown as DecoderStackAttrs;
  const list = inputs as unknown as tf.Tensor[];
  const g = (name: DecoderStackInputName) => list[decoderStackInput(name)];
  const past = g('pastLengths').dataSync();
  const fresh = g('newLengths').dataSync();
  return tf.tidy(() => {
    const ids = g('inputIds');
    const [batch, newTokens] = ids.shape as number[];
    const [vocab, embed] = g('wordEmbeddings').shape as number[];
    const capacity = (g('keyCache').shape as number[])[3];
    const {numHeads: heads, numKvHeads: kvHeads, headDim: d} = a;
    const rows = batch * newTokens;
    // Positions past_b + i; padding rows get position 0 and id 0 (computed, never used).
    const positionValues = new Int32Array(rows), idMask = new Uint8Array(rows);
    for (let b = 0; b < batch; b++) {
      for (let i = 0; i < fresh[b]; i++) {
        positionValues[b * newTokens + i] = past[b] + i;
        idMask[b * newTokens + i] = 1;
      }
    }
    const positions = tf.tensor2d(positionValues, [batch, newTokens], 'int32');
    const realRow = tf.tensor1d(idMask, 'bool');
    const safeIds = tf.where(realRow, tf.reshape(ids, [rows]), tf.zerosLike(tf.reshape(ids, [rows])));
    let x = tf.gather(g('wordEmbeddings'), safeIds);
    if (a.embeddingScale !== 1) x = tf.mul(x, a.embeddingScale);
    // BlenderbotSmall's decoder norms the word embeddings alone and adds the positions after the norm.
    const normWordsAlone = a.hasEmbeddingNorm && a.embeddingNormBeforePositions;
    const withPositions = (t: tf.Tensor) => g('positionEmbeddings').size === 0 ? t :
      tf.add(t, tf.gather(g('positionEmbeddings'), tf.add(tf.reshape(positions, [rows]), tf.scalar(a.positionOffset, 'int32'))));
    if (!normWordsAlone) x = withPositions(x);
    const norm = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => {
      const ones = gamma.size > 0 ? gamma : tf.ones([embed]);
      if (a.normKind === 'rms') return rmsNormOf(t, ones, eps);
      return layerNormOf(t, ones, beta.size > 0 ? beta : tf.zeros([embed]), eps);
    };
    if (a.hasEmbeddingNorm) x = norm(x, g('embeddingNormGamma'), g('embeddingNormBeta'), a.embeddingNormEps);
    if (normWordsAlone) x = withPositions(x);
    const visible = cacheVisibility(past, fresh, newTokens, capacity);
    const selfMask = a.hasPositionBias ? biasedVisibility(g('positionBias'), visible, past, newTokens, capacity) : visible;
    const cross = a.crossAttention ? crossCaches(a, g, list) : null;
    const toHeads = (t: tf.Tensor, count: number) => tf.transpose(tf.reshape(t, [batch, newTokens, count, d]), [0, 2, 1, 3]);
    const keyCaches: tf.Tensor[] = [], valueCaches: tf.Tensor[] = [];
    const layerCache = (cache: tf.Tensor, l: number) =>
      tf.reshape(tf.slice(cache, [l, 0, 0, 0, 0], [1, batch, kvHeads, capacity, d]), [batch, kvHeads, capacity, d]);

    for (let l = 0; l < a.numLayers; l++) {
      const w = (name: DecoderLayerInputName) => list[decoderLayerInput(l, name)];
      const h = a.normFirst || a.parallel ? norm(x, w('norm1Gamma'), w('norm1Beta'), a.normEps1[l]) : x;
      let q: tf.Tensor, k: tf.Tensor, v: tf.Tensor;
      const qWidth = heads * d, kvWidth = kvHeads * d;
      if (a.packedQkv) {
        const qkv = dense(h, w('qkvWeight'), w('qkvBias'));
        [q, k, v] = tf.split(qkv, [qWidth, kvWidth, kvWidth], 1);
      } else {
        q = dense(h, w('qWeight'), w('qBias'));
        k = dense(h, w('kWeight'), w('kBias'));
        v = dense(h, w('vWeight'), w('vBias'));
      }
      let qh = toHeads(q, heads), kh = toHeads(k, kvHeads);
      const vh = toHeads(v, kvHeads);
      if (a.rotaryDim > 0) {
        qh = rotaryOf(qh, positions, g('rotaryCos'), g('rotarySin'), a.rotaryDim, a.rotaryInterleaved);
        kh = rotaryOf(kh, positions, g('rotaryCos'), g('rotarySin'), a.rotaryDim, a.rotaryInterleaved);
      }
      const keys = appendRows(layerCache(g('keyCache'), l), kh, past, fresh);
      const values = appendRows(layerCache(g('valueCache'), l), vh, past, fresh);
      keyCaches.push(keys);
      valueCaches.push(values);
      const context = runOpResult('ScaledDotProductAttention', {
        q: qh, k: keys, v: values, attnMask: selfMask, keyPaddingMask: tf.zeros([0]),
      }, {
        scale: a.scale, isCausal: false, maskKind: a.hasPositionBias ? 'additive' : 'bool', hasKeyPaddingMask: false,
        precision: a.precision,
      } satisfies SdpaAttrs);
      const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [rows, qWidth]);
      let attn = tf.add(dense(merged, w('outWeight'), w('outBias')), x);
      if (!a.normFirst && !a.parallel) attn = norm(attn, w('norm1Gamma'), w('norm1Beta'), a.normEps1[l]);
      if (cross) {
        // x += CrossAttn(Nc(x)) (pre-norm) or x = Nc(x + CrossAttn(x)) (post-norm).
        const crossIn = a.normFirst ? norm(attn, w('crossNormGamma'), w('crossNormBeta'), a.normEpsCross[l]) : attn;
        const crossContext = runOpResult('ScaledDotProductAttention', {
          q: toHeads(dense(crossIn, w('crossQWeight'), w('crossQBias')), heads), k: cross.layerKeys(l), v: cross.layerValues(l),
          attnMask: tf.zeros([0]), keyPaddingMask: a.hasSourceMask ? g('sourceMask') : tf.zeros([0]),
        }, {
          scale: a.scale, isCausal: false, maskKind: 'none', hasKeyPaddingMask: a.hasSourceMask, precision: a.precision,
        } satisfies SdpaAttrs);
        const crossMerged = tf.reshape(tf.transpose(crossContext, [0, 2, 1, 3]), [rows, qWidth]);
        attn = tf.add(dense(crossMerged, w('crossOutWeight'), w('crossOutBias')), attn);
        if (!a.normFirst) attn = norm(attn, w('crossNormGamma'), w('crossNormBeta'), a.normEpsCross[l]);
      }
      let mlpInput: tf.Tensor;
      if (a.parallel) {
        mlpInput = a.parallelSharedNorm ? h : norm(x, w('norm2Gamma'), w('norm2Beta'), a.normEps2[l]);
      } else if (a.normFirst) {
        mlpInput = norm(attn, w('norm2Gamma'), w('norm2Beta'), a.normEps2[l]);
      } else {
        mlpInput = attn;
      }
      const up = dense(mlpInput, w('upWeight'), w('upBias'));
      const hidden = a.gatedMlp
        ? tf.mul(decoderActivation(dense(mlpInput, w('gateWeight'), w('gateBias')), a.activation), up)
        : decoderActivation(up, a.activation);
      x = tf.add(dense(hidden, w('downWeight'), w('downBias')), attn);
      if (!a.normFirst && !a.parallel) x = norm(x, w('norm2Gamma'), w('norm2Beta'), a.normEps2[l]);
    }

    // Rows whose logits are wanted.
    let selected: tf.Tensor;
    let keep: tf.Tensor;
    if (a.logitsRows === 'all') {
      selected = x;
      keep = tf.reshape(realRow, [rows, 1]);
    } else {
      const last = new Int32Array(batch), has = new Uint8Array(batch);
      for (let b = 0; b < batch; b++) {
        last[b] = b * newTokens + Math.max(fresh[b] - 1, 0);
        has[b] = fresh[b] > 0 ? 1 : 0;
      }
      selected = rows > 0 ? tf.gather(x, tf.tensor1d(last, 'int32')) : tf.zeros([batch, embed]);
      keep = tf.reshape(tf.tensor1d(has, 'bool'), [batch, 1]);
    }
    if (a.hasFinalNorm) selected = norm(selected, g('finalNormGamma'), g('finalNormBeta'), a.finalNormEps);
    let logits = tf.matMul(selected, g('lmHead'), false, a.lmHeadTransposed);
    if (g('lmHeadBias').size > 0) logits = tf.add(logits, g('lmHeadBias'));
    logits = tf.where(keep, logits, tf.zerosLike(logits));
    if (a.logitsRows === 'all') logits = tf.reshape(logits, [batch, newTokens, vocab]);
    const stack = (caches: tf.Tensor[], original: tf.Tensor) => (caches.length > 0 ? tf.stack(caches, 0) : tf.clone(original));
    const lengths = tf.add(g('pastLengths'), g('newLengths'));
    // Cross caches: the filled ones, or the inputs (cloned: an output is a tensor of its own).
    const crossOut = cross ? [cross.keyCache, cross.valueCache] : [g('crossKeyCache'), g('crossValueCache')];
    return [logits, stack(keyCaches, g('keyCache')), stack(valueCaches, g('valueCache')), lengths,
      ...crossOut.map(t => (t === g('crossKeyCache') || t === g('crossValueCache') ? tf.clone(t) : t))];
  });
};

/**
 * The self-attention's additive mask [B, H, N, C] with the position bias: positionBias[h, past_b + i − j]
 * where row j is visible to new row i of sequence b, −Infinity elsewhere.
 */
function biasedVisibility(positionBias: tf.Tensor, visible: tf.Tensor, past: ArrayLike<number>, newTokens: number,
    capacity: number): tf.Tensor {
  const batch = past.length, rows = positionBias.shape[1] as number;
  // Distances clamped into the table where the key is hidden (those entries become −Infinity below).
  const distance = new Int32Array(batch * newTokens * capacity);
  for (let b = 0; b < batch; b++) {
    for (let i = 0; i < newTokens; i++) {
      for (let j = 0; j < capacity; j++) {
        distance[(b * newTokens + i) * capacity + j] = Math.min(rows - 1, Math.max(0, past[b] + i - j));
      }
    }
  }
  // [H, B·N·C] -> [B, H, N, C]
  const bias = tf.gather(positionBias, tf.tensor1d(distance, 'int32'), 1);
  const perHead = tf.transpose(tf.reshape(bias, [positionBias.shape[0] as number, batch, newTokens, capacity]), [1, 0, 2, 3]);
  return tf.where(tf.broadcastTo(visible, perHead.shape), perHead, tf.fill(perHead.shape, -Infinity));
}

/** The cross caches of a step: computed from encoderStates (fillCrossCache) or the inputs, and each layer's [B, Hkv, S, D]. */
function crossCaches(a: DecoderStackAttrs, g: (name: DecoderStackInputName) => tf.Tensor, list: tf.Tensor[]): {
  keyCache: tf.Tensor; valueCache: tf.Tensor; layerKeys(l: number): tf.Tensor; layerValues(l: number): tf.Tensor} {
  const [layers, batch, kvHeads, sourceLength, d] = g('crossKeyCache').shape as number[];
  let keyCache = g('crossKeyCache'), valueCache = g('crossValueCache');
  if (a.fillCrossCache && layers > 0) {
    const states = tf.reshape(g('encoderStates'), [batch * sourceLength, -1]);
    const project = (l: number, weight: DecoderLayerInputName, bias: DecoderLayerInputName) => tf.transpose(
        tf.reshape(dense(states, list[decoderLayerInput(l, weight)], list[decoderLayerInput(l, bias)]), [batch, sourceLength, kvHeads, d]),
        [0, 2, 1, 3]);
    keyCache = tf.stack(Array.from({length: layers}, (_, l) => project(l, 'crossKWeight', 'crossKBias')));
    valueCache = tf.stack(Array.from({length: layers}, (_, l) => project(l, 'crossVWeight', 'crossVBias')));
  }
  const layer = (cache: tf.Tensor, l: number) =>
    tf.reshape(tf.slice(cache, [l, 0, 0, 0, 0], [1, batch, kvHeads, sourceLength, d]), [batch, kvHeads, sourceLength, d]);
  return {keyCache, valueCache, layerKeys: l => layer(keyCache, l), layerValues: l => layer(valueCache, l)};
}
