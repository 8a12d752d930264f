/**
 * TransformerDecoderStack as plain tfjs ops, for backends without the fused
 * kernel (and as the reference the fused kernels are tested against). Every
 * row of inputIds is computed (padding rows with their ids and positions
 * clamped into range, then ignored); each layer's cache comes back as a new
 * tensor (immutable tfjs tensors), so a step copies the caches — the fused
 * `cpu` and `tensorflow` kernels append in place instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {runOpResult} from '../dispatch/dispatch';
import {
  DecoderActivation, DecoderLayerInputName, decoderLayerInput, DecoderStackAttrs, decoderStackInput,
  DecoderStackInputName,
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
    if (g('positionEmbeddings').size > 0) {
      x = tf.add(x, tf.gather(g('positionEmbeddings'), tf.add(tf.reshape(positions, [rows]), tf.scalar(a.positionOffset, 'int32'))));
    }
    const norm = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => {
      const ones = gamma.size > 0 ? gamma : tf.ones([embed]);
      if (a.normKind === 'rms') return rmsNormOf(t, ones, eps);
      return layerNormOf(t, ones, beta.size > 0 ? beta : tf.zeros([embed]), eps);
    };
    const visible = cacheVisibility(past, fresh, newTokens, capacity);
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
        q: qh, k: keys, v: values, attnMask: visible, keyPaddingMask: tf.zeros([0]),
      }, {scale: a.scale, isCausal: false, maskKind: 'bool', hasKeyPaddingMask: false});
      const merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [rows, qWidth]);
      let attn = tf.add(dense(merged, w('outWeight'), w('outBias')), x);
      let mlpInput: tf.Tensor;
      if (a.parallel) {
        mlpInput = a.parallelSharedNorm ? h : norm(x, w('norm2Gamma'), w('norm2Beta'), a.normEps2[l]);
      } else if (a.normFirst) {
        mlpInput = norm(attn, w('norm2Gamma'), w('norm2Beta'), a.normEps2[l]);
      } else {
        attn = norm(attn, w('norm1Gamma'), w('norm1Beta'), a.normEps1[l]);
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
    return [logits, stack(keyCaches, g('keyCache')), stack(valueCaches, g('valueCache')), lengths];
  });
};
