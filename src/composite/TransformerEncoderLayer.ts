/**
 * TransformerEncoderLayer as a composite of plain tfjs ops (attention goes
 * through the dispatcher, so it is fused wherever the backend has the
 * attention kernel). Used on backends without the fused layer kernel and to
 * differentiate the layer. Padded rows are computed, then zeroed, to match
 * the fused kernels' output.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {placeholder, runOpResult} from '../dispatch/dispatch';
import {EncoderActivation, EncoderLayerAttrs, SdpaAttrs} from '../op_table';
import {connectedZeros} from './connected_zeros';
import {layerNormOf} from './LayerNorm';

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

function dense(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor): tf.Tensor {
  return tf.add(tf.matMul(x, weight), bias);
}

/** `w`: the layer's kernel inputs by name (ENCODER_KERNEL_INPUTS); the QKV form attrs.packedQkv names is read. */
export function encoderLayerOf(x: tf.Tensor, w: tf.NamedTensorMap, keyPaddingMask: tf.Tensor | null,
    attrs: EncoderLayerAttrs): tf.Tensor3D {
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

    const attnIn = attrs.normFirst ? layerNormOf(rows, w.ln1Gamma, w.ln1Beta, attrs.layerNormEps1) : rows;
    let q: tf.Tensor, k: tf.Tensor, v: tf.Tensor;
    if (attrs.packedQkv) {
      [q, k, v] = tf.split(dense(attnIn, w.qkvWeight, w.qkvBias), 3, 1);
    } else {
      q = dense(attnIn, w.qWeight, w.qBias);
      k = dense(attnIn, w.kWeight, w.kBias);
      v = dense(attnIn, w.vWeight, w.vBias);
    }
    const attentionAttrs: SdpaAttrs = {
      scale: attrs.scale, isCausal: attrs.isCausal, maskKind: 'none', hasKeyPaddingMask: keyPaddingMask !== null,
    };
    const attn = runOpResult('ScaledDotProductAttention', {
      q: toHeads(q), k: toHeads(k), v: toHeads(v), attnMask: placeholder(), keyPaddingMask: keyPaddingMask ?? placeholder(),
    }, attentionAttrs);
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [batch * seq, embed]);
    let h = tf.add(rows, dense(merged, w.outWeight, w.outBias));
    if (!attrs.normFirst) h = layerNormOf(h, w.ln1Gamma, w.ln1Beta, attrs.layerNormEps1);

    const ffnIn = attrs.normFirst ? layerNormOf(h, w.ln2Gamma, w.ln2Beta, attrs.layerNormEps2) : h;
    const hidden = applyActivation(dense(ffnIn, w.ffnInWeight, w.ffnInBias), attrs.activation);
    let y = tf.add(h, dense(hidden, w.ffnOutWeight, w.ffnOutBias));
    if (!attrs.normFirst) y = layerNormOf(y, w.ln2Gamma, w.ln2Beta, attrs.layerNormEps2);

    y = tf.reshape(y, [batch, seq, embed]);
    if (real) y = tf.where(real, y, tf.zerosLike(y));
    return y as tf.Tensor3D;
  });
}

export const compositeTransformerEncoderLayer: CompositeFunc = (inputs, attrs) => {
  const a = attrs as EncoderLayerAttrs;
  return encoderLayerOf(inputs.x, inputs, a.hasKeyPaddingMask ? inputs.keyPaddingMask : null, a);
};
