/**
 * transformerEncoderLayer as a composite of plain tfjs ops (attention goes
 * through scaledDotProductAttention, so it is fused wherever that is). Used on
 * backends without the fused layer kernel and to differentiate the layer.
 * Padded rows are computed, then zeroed, to match the fused kernel's output.
 */
import * as tf from '@tensorflow/tfjs-core';
import {EncoderActivation, EncoderLayerAttrs} from '../kernel_names';
import {scaledDotProductAttention} from '../ops/scaled_dot_product_attention';

export function applyActivation(x: tf.Tensor, activation: EncoderActivation): tf.Tensor {
  switch (activation) {
    case 'relu': return tf.relu(x);
    case 'gelu': return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
    case 'gelu_tanh': {
      const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
    }
  }
}

export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const {mean, variance} = tf.moments(x, -1, true);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

function dense(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return tf.add(tf.matMul(x, weight), bias);
}

/** `weights` by kernel input name (packed or separate QKV, as attrs.packedQkv says). */
export function compositeEncoderLayer(
    x: tf.Tensor, weights: Record<string, tf.Tensor>, keyPaddingMask: tf.Tensor | null,
    attrs: EncoderLayerAttrs): tf.Tensor3D {
  return tf.tidy(() => {
    const [batch, seq, embed] = x.shape as number[];
    if (batch * seq === 0) return tf.zeros([batch, seq, embed]) as tf.Tensor3D;
    const heads = attrs.numHeads, headDim = embed / heads;
    const rows = tf.reshape(x, [batch * seq, embed]);
    const toHeads = (t: tf.Tensor) =>
        tf.transpose(tf.reshape(t, [batch, seq, heads, headDim]), [0, 2, 1, 3]) as tf.Tensor4D;

    const attnIn = attrs.normFirst ? layerNorm(rows, weights.ln1Gamma, weights.ln1Beta, attrs.layerNormEps1) : rows;
    let q: tf.Tensor, k: tf.Tensor, v: tf.Tensor;
    if (attrs.packedQkv) {
      [q, k, v] = tf.split(dense(attnIn, weights.qkvWeight, weights.qkvBias), 3, 1);
    } else {
      q = dense(attnIn, weights.qWeight, weights.qBias);
      k = dense(attnIn, weights.kWeight, weights.kBias);
      v = dense(attnIn, weights.vWeight, weights.vBias);
    }
    const attn = scaledDotProductAttention(toHeads(q), toHeads(k), toHeads(v), {
      keyPaddingMask: keyPaddingMask as tf.Tensor2D ?? undefined,
      isCausal: attrs.isCausal,
      scale: attrs.scale,
    });
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [batch * seq, embed]);
    let h = tf.add(rows, dense(merged, weights.outWeight, weights.outBias));
    if (!attrs.normFirst) h = layerNorm(h, weights.ln1Gamma, weights.ln1Beta, attrs.layerNormEps1);

    const ffnIn = attrs.normFirst ? layerNorm(h, weights.ln2Gamma, weights.ln2Beta, attrs.layerNormEps2) : h;
    const hidden = applyActivation(dense(ffnIn, weights.ffnInWeight, weights.ffnInBias), attrs.activation);
    let y = tf.add(h, dense(hidden, weights.ffnOutWeight, weights.ffnOutBias));
    if (!attrs.normFirst) y = layerNorm(y, weights.ln2Gamma, weights.ln2Beta, attrs.layerNormEps2);

    y = tf.reshape(y, [batch, seq, embed]);
    if (keyPaddingMask) {
      const real = tf.reshape(tf.notEqual(keyPaddingMask, tf.scalar(0, keyPaddingMask.dtype)), [batch, seq, 1]);
      y = tf.where(real, y, tf.zerosLike(y));
    }
    return y as tf.Tensor3D;
  });
}
