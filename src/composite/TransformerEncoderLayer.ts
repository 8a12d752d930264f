/**
 * TransformerEncoderLayer as a composite of plain tfjs ops (attention goes
 * through the dispatcher, so it is fused wherever the backend has the
 * attention kernel). Used on backends without the fused layer kernel and to
 * differentiate the layer. Padded rows are computed, then zeroed, to match
 * the fused kernels' output. The attention bias is the attention's additive
 * mask (so it gets a gradient through the attention's mask gradient).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {EncoderActivation, EncoderLayerAttrs, SdpaAttrs} from '../op_table';
import {connectedZeros} from './connected_zeros';
import {layerNormOf} from './LayerNorm';
import {rmsNormOf} from './RmsNorm';

export function applyActivation(x: tf.Tensor, activation: EncoderActivation): tf.Tensor {
  switch (activation) {
    case 'relu': return tf.relu(x);
    case 'silu': return tf.mul(x, tf.sigmoid(x));
    case 'gelu': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'gelu_tanh': {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
  }
}

/** x·W + b; an absent bias is a [0]-shaped placeholder (0). */
function dense(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  const product = tf.matMul(x, weight);
  return bias.size > 0 ? tf.add(product, bias) : product;
}

/** The layer's norm (LayerNorm with an optional beta, or RMSNorm) of rows [N, E]. */
function normOf(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number, attrs: EncoderLayerAttrs): tf.Tensor {
  if (attrs.normKind === 'rms') return rmsNormOf(x, gamma, eps);
  return beta.size > 0 ? layerNormOf(x, gamma, beta, eps) : tf.tidy(() => {
    const {mean, variance} = tf.moments(x, -1, true);
    return tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma);
  });
}

/**
 * `w`: the layer's kernel inputs by name (ENCODER_KERNEL_INPUTS); the QKV form attrs.packedQkv names is read.
 * `attentionBias` [1 or B, H, S, S] is added to the attention scores (null: none).
 */
export function encoderLayerOf(x: tf.Tensor, w: tf.NamedTensorMap, keyPaddingMask: tf.Tensor | null,
    attrs: EncoderLayerAttrs, attentionBias: tf.Tensor | null = null): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, seq, embed] = x.shape as number[];
    if (batch * seq === 0) {
      const weights = Object.values(w).filter(t => t !== x && t !== keyPaddingMask && t.size > 0 && t.dtype === 'float32');
      return connectedZeros([batch, seq, embed], [x, ...weights]) as tf.Tensor3D;
    }
    const heads = attrs.numHeads, headDim = embed / heads;
    const real = keyPaddingMask ?
      tf.reshape(tf.notEqual(keyPaddingMask, tf.scalar(0, keyPaddingMask.dtype)), [batch, seq, 1]) : null;
    // Padded tokens are never read (as in the fused kernels, which skip them): their rows start as zeros.
    const rows = tf.reshape(real ? tf.where(real, x, tf.zerosLike(x)) : x, [batch * seq, embed]);
    const toHeads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [batch, seq, heads, headDim]), [0, 2, 1, 3]);

    const attnIn = attrs.normFirst ? normOf(rows, w.ln1Gamma, w.ln1Beta, attrs.layerNormEps1, attrs) : rows;
    let q: tf.Tensor, k: tf.Tensor, v: tf.Tensor;
    if (attrs.packedQkv) {
      [q, k, v] = tf.split(dense(attnIn, w.qkvWeight, w.qkvBias), 3, 1);
    } else {
      q = dense(attnIn, w.qWeight, w.qBias);
      k = dense(attnIn, w.kWeight, w.kBias);
      v = dense(attnIn, w.vWeight, w.vBias);
    }
    const attentionAttrs: SdpaAttrs = {
      scale: attrs.scale, isCausal: attrs.isCausal, maskKind: attentionBias ? 'additive' : 'none',
      hasKeyPaddingMask: keyPaddingMask !== null, precision: attrs.precision,
    };
    const attn = runOpResult('ScaledDotProductAttention', {
      q: toHeads(q), k: toHeads(k), v: toHeads(v), attnMask: attentionBias ?? placeholder(),
      keyPaddingMask: keyPaddingMask ?? placeholder(),
    }, attentionAttrs);
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [batch * seq, embed]);
    let h = tf.add(rows, dense(merged, w.outWeight, w.outBias));
    if (!attrs.normFirst) h = normOf(h, w.ln1Gamma, w.ln1Beta, attrs.layerNormEps1, attrs);

    const ffnIn = attrs.normFirst ? normOf(h, w.ln2Gamma, w.ln2Beta, attrs.layerNormEps2, attrs) : h;
    let hidden = applyActivation(dense(ffnIn, attrs.gatedMlp ? w.gateWeight : w.ffnInWeight,
                                       attrs.gatedMlp ? w.gateBias : w.ffnInBias), attrs.activation);
    if (attrs.gatedMlp) hidden = tf.mul(hidden, dense(ffnIn, w.ffnInWeight, w.ffnInBias));
    let y = tf.add(h, dense(hidden, w.ffnOutWeight, w.ffnOutBias));
    if (!attrs.normFirst) y = normOf(y, w.ln2Gamma, w.ln2Beta, attrs.layerNormEps2, attrs);

    y = tf.reshape(y, [batch, seq, embed]);
    if (real) y = tf.where(real, y, tf.zerosLike(y));
    return y as tf.Tensor3D;
  });
}

export const compositeTransformerEncoderLayer: CompositeFunc = (inputs, attrs) => {
  const a = attrs as EncoderLayerAttrs;
  return encoderLayerOf(inputs.x, inputs, a.hasKeyPaddingMask ? inputs.keyPaddingMask : null, a,
                        a.hasAttentionBias ? inputs.attentionBias : null);
};
