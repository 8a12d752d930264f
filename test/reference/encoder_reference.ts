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
  activation: 'gelu' | 'gelu_tanh' | 'relu' | 'silu';
  eps: [number, number];
  isCausal: boolean;
  keyPaddingMask?: tf.Tensor;
  /** 'rms': RMSNorm (no beta) instead of LayerNorm. */
  normKind?: 'layer' | 'rms';
  /** float32 [1 or B, H, S, S], added to the scaled scores. */
  attentionBias?: tf.Tensor;
  /** Default 1/sqrt(E / numHeads). */
  scale?: number;
}

/** LayerNorm (beta absent = 0), or RMSNorm x / sqrt(mean(x²) + eps) · gamma when `rms`. */
function norm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor | undefined, eps: number, rms: boolean): tf.Tensor {
  if (rms) return tf.mul(tf.div(x, tf.sqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), gamma);
  const mean = tf.mean(x, -1, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), -1, true);
  const scaled = tf.mul(tf.div(centered, tf.sqrt(tf.add(variance, eps))), gamma);
  return beta ? tf.add(scaled, beta) : scaled;
}

function activation(x: tf.Tensor, kind: ReferenceEncoderOptions['activation']): tf.Tensor {
  if (kind === 'relu') return tf.relu(x);
  if (kind === 'silu') return tf.mul(x, tf.sigmoid(x));
  if (kind === 'gelu') return tf.mul(tf.mul(0.5, x), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
  const cube = tf.mul(tf.mul(x, x), x);
  return tf.mul(tf.mul(0.5, x), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, cube))))));
}

/**
 * `w` holds qkvWeight/qkvBias or q/k/v Weight/Bias, plus the common weights; any
 * bias or beta may be missing (0). With gateWeight (and gateBias) the MLP is
 * (act(x·Wg + bg) · (x·W1 + b1))·W2 + b2.
 */
export function referenceEncoderLayer(x: tf.Tensor, w: Record<string, tf.Tensor>, o: ReferenceEncoderOptions): tf.Tensor {
  return tf.tidy(() => {
    const [B, S, E] = x.shape as number[];
    const dh = E / o.numHeads;
    const dense = (t: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | undefined) =>
        bias ? tf.add(tf.matMul(t, weight), bias) : tf.matMul(t, weight);
    const rms = o.normKind === 'rms';
    const layerNorm = (t: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor | undefined, eps: number) =>
        norm(t, gamma, beta, eps, rms);
    const heads = (t: tf.Tensor) => tf.transpose(tf.reshape(t, [B, S, o.numHeads, dh]), [0, 2, 1, 3]);
    const flat = tf.reshape(x, [B * S, E]);
    const a = o.normFirst ? layerNorm(flat, w.ln1Gamma, w.ln1Beta, o.eps[0]) : flat;
    const qw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, 0], [E, E]) : w.qWeight;
    const kw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, E], [E, E]) : w.kWeight;
    const vw = w.qkvWeight ? tf.slice(w.qkvWeight, [0, 2 * E], [E, E]) : w.vWeight;
    const qb = w.qkvBias ? tf.slice(w.qkvBias, [0], [E]) : w.qBias;
    const kb = w.qkvBias ? tf.slice(w.qkvBias, [E], [E]) : w.kBias;
    const vb = w.qkvBias ? tf.slice(w.qkvBias, [2 * E], [E]) : w.vBias;
    const attn = referenceAttention(heads(dense(a, qw, qb)), heads(dense(a, kw, kb)), heads(dense(a, vw, vb)), {
      keyPaddingMask: o.keyPaddingMask, isCausal: o.isCausal, attnMask: o.attentionBias, scale: o.scale ?? 1 / Math.sqrt(dh),
    });
    const merged = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [B * S, E]);
    let h = tf.add(flat, dense(merged, w.outWeight, w.outBias));
    if (!o.normFirst) h = layerNorm(h, w.ln1Gamma, w.ln1Beta, o.eps[0]);
    const f = o.normFirst ? layerNorm(h, w.ln2Gamma, w.ln2Beta, o.eps[1]) : h;
    const hidden = w.gateWeight ?
        tf.mul(activation(dense(f, w.gateWeight, w.gateBias), o.activation), dense(f, w.ffnInWeight, w.ffnInBias)) :
        activation(dense(f, w.ffnInWeight, w.ffnInBias), o.activation);
    let y = tf.add(h, dense(hidden, w.ffnOutWeight, w.ffnOutBias));
    if (!o.normFirst) y = layerNorm(y, w.ln2Gamma, w.ln2Beta, o.eps[1]);
    y = tf.reshape(y, [B, S, E]);
    if (o.keyPaddingMask) {
      const keep = tf.reshape(tf.cast(tf.notEqual(o.keyPaddingMask, 0), 'float32'), [B, S, 1]);
      y = tf.mul(y, keep);
    }
    return y;
  });
}
