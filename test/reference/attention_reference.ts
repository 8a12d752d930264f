/**
 * Test oracle for scaledDotProductAttention, built only from plain tfjs ops.
 * The mask semantics are spelled out element by element (a visibility array
 * filled in JavaScript loops) so that they are checked independently of the
 * package's own broadcasting and causal code.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface ReferenceOptions {
  attnMask?: tf.Tensor;
  keyPaddingMask?: tf.Tensor;
  isCausal?: boolean;
  scale?: number;
}

export function referenceAttention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, opts: ReferenceOptions = {}): tf.Tensor {
  return tf.tidy(() => {
    const [B, H, Sq, D] = q.shape as number[];
    const [, Hkv, Sk] = k.shape as number[];
    const Dv = (v.shape as number[])[3];
    const scale = opts.scale ?? 1 / Math.sqrt(D);
    const visible = new Uint8Array(B * H * Sq * Sk).fill(1);
    const boolMask = opts.attnMask?.dtype === 'bool' ? tf.broadcastTo(opts.attnMask, [B, H, Sq, Sk]).dataSync() : null;
    const padding = opts.keyPaddingMask ? opts.keyPaddingMask.dataSync() : null;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < H; h++) {
        for (let i = 0; i < Sq; i++) {
          for (let j = 0; j < Sk; j++) {
            const idx = ((b * H + h) * Sq + i) * Sk + j;
            if (padding && padding[b * Sk + j] === 0) visible[idx] = 0;
            if (opts.isCausal && j > i + (Sk - Sq)) visible[idx] = 0;
            if (boolMask && !boolMask[idx]) visible[idx] = 0;
          }
        }
      }
    }
    if (B * H * Sq * Dv === 0 || Sk === 0) return tf.zeros([B, H, Sq, Dv]);
    const kvIndex = tf.tensor1d(Array.from({length: H}, (_, h) => Math.floor(h / (H / Hkv))), 'int32');
    const kk = tf.gather(k, kvIndex, 1);
    const vv = tf.gather(v, kvIndex, 1);
    let scores = tf.mul(tf.matMul(q, kk, false, true), scale);
    if (opts.attnMask?.dtype === 'float32') scores = tf.add(scores, opts.attnMask);
    scores = tf.where(tf.tensor(visible, [B, H, Sq, Sk], 'bool'), scores, tf.fill([B, H, Sq, Sk], -Infinity));
    // Read back into a new tensor (no tape link): comparisons have no gradient in tfjs.
    const rowMax = tf.max(scores, -1, true);
    const hasKey = tf.notEqual(tf.tensor(rowMax.dataSync(), rowMax.shape), -Infinity);
    const probs = tf.softmax(tf.where(hasKey, scores, tf.zerosLike(scores)));
    const out = tf.matMul(probs, vv);
    return tf.where(hasKey, out, tf.zerosLike(out));
  });
}
