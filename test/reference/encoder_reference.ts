/**
 * Test oracle for transformerEncoderLayer from plain tfjs ops: every token is
 * computed (as Hugging Face models do), then padded rows are set to 0, which
 * is the fused layer's documented output there.
 */
import * as tf from '@tensorflow/tfjs-core';
import {referenceAttention} from './attention_reference';

export interface ReferenceEncoderOptions {
  numHeads: number;
  normFirst: boolean;
  activation: 'gelu' | 'gelu_tanh' | 'relu';
  eps: [number, number];
  isCausal: boolean;
  keyPaddingMask?: tf.Tensor;
}

function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  return tf.add(tf.mul(tf.div(centered, tf.sqrt(tf.add(variance, eps))), gamma), beta);
}

function activation(x: tf.Tensor, kind: ReferenceEncoderOptions['activation']): tf.Tensor {
  if (kind === 'relu') return tf.relu(x);
  if (kind === 'gelu') return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
  const cube = tf.mul(tf.mul(x, x), x);
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, cube))))));
}

/** `w` holds qkvWeight/qkvBias or q/k/v Weight/Bias, plus the common weights. */
export function referenceEncoderLayer(x: tf.Tensor, w: Record<string, tf.Tensor>, o: ReferenceEncoderOptions): tf.Tensor {
  return tf.tidy(() => {
    const [B, S, E] = x.shape as number[];
    const dh = E / o.numHeads;
    const dense = (t: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor) => tf.add(tf.matMul(t, weight), bias);
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, S, o.numHeads, dh]), [0, 2, 1, 3]);
    const flat = tf.reshape(x, [B * S, E]);
    const a = o.normFirst ? layerNorm(flat, w.ln1Gamma, w.ln1Beta, o.eps[0]) : flat;
    const qw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, 0], [E, E]) : w.qWeight;
    const kw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, E], [E, E]) : w.kWeight;
    const vw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, 2 * E], [E, E]) : w.vWeight;
    const qb = w.qkvBias ? tf.slice(w.qkvBias, [0], [E]) : w.qBias;
    const kb = w.qkvBias ? tf.slice(w.qkvBias, [E], [E]) : w.kBias;
    const vb = w.qkvBias ? tf.slice(w.qkvBias, [2 * E], [E]) : w.vBias;
    const attn = referenceAttention(heads(dense(a, qw, qb)), heads(dense(a, kw, kb)), heads(dense(a, vw, vb)),
                                    {keyPaddingMask: o.keyPaddingMask, isCausal: o.isCausal});
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [B * S, E]);
    let h = tf.add(flat, dense(merged, w.outWeight, w.outBias));
    if (!o.normFirst) h = layerNorm(h, w.ln1Gamma, w.ln1Beta, o.eps[0]);
    const f = o.normFirst ? layerNorm(h, w.ln2Gamma, w.ln2Beta, o.eps[1]) : h;
    let y = tf.add(h, dense(activation(dense(f, w.ffnInWeight, w.ffnInBias), o.activation), w.ffnOutWeight, w.ffnOutBias));
    if (!o.normFirst) y = layerNorm(y, w.ln2Gamma, w.ln2Beta, o.eps[1]);
    y = tf.reshape(y, [B, S, E]);
    if (o.keyPaddingMask) {
      const keep = tf.reshape(tf.cast(tf.notEqual(o.keyPaddingMask, 0), 'float32'), [B, S, 1]);
      y = tf.mul(y, keep);
    }
    return y;
  });
}
