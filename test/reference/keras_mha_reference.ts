/**
 * Test oracle for Keras' MultiHeadAttention (tf-keras 2.15), written from its
 * einsum equations for 3-D inputs with attention over the sequence axis:
 * projections `abc,cde->abde`, scores `aecd,abcd->acbe` on the query scaled by
 * 1/sqrt(key_dim), Keras' Softmax mask term (1 - mask) * -1e9, context
 * `acbe,aecd->abcd`, output `abcd,cde->abe`. The mask (attention_mask and the
 * top-left causal mask) is combined element by element in JavaScript.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface KerasMhaWeights {
  wq: tf.Tensor; wk: tf.Tensor; wv: tf.Tensor; wo: tf.Tensor;
  bq?: tf.Tensor; bk?: tf.Tensor; bv?: tf.Tensor; bo?: tf.Tensor;
}

export interface KerasMhaReferenceArgs {
  query: tf.Tensor;
  value: tf.Tensor;
  weights: KerasMhaWeights;
  /** [B, T, S], nonzero / true = may attend. */
  attentionMask: tf.Tensor | null;
  useCausalMask: boolean;
  keyDim: number;
}

function visibility(args: KerasMhaReferenceArgs, B: number, T: number, S: number): Float32Array | null {
  if (args.attentionMask == null && !args.useCausalMask) return null;
  const mask = args.attentionMask == null ? null : args.attentionMask.dataSync();
  const out = new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < S; s++) {
        const i = (b * T + t) * S + s;
        const allowed = (mask == null || Number(mask[i]) !== 0) && (!args.useCausalMask || s <= t);
        out[i] = allowed ? 1 : 0;
      }
    }
  }
  return out;
}

export function referenceKerasMha(args: KerasMhaReferenceArgs): tf.Tensor {
  return tf.tidy(() => {
    const w = args.weights;
    const project = (x: tf.Tensor, kernel: tf.Tensor, bias?: tf.Tensor) => {
      const y = tf.einsum('abc,cde->abde', x, kernel);
      return bias == null ? y : tf.add(y, bias);
    };
    const q = project(args.query, w.wq, w.bq);
    const k = project(args.value, w.wk, w.bk);
    const v = project(args.value, w.wv, w.bv);
    const [B, T] = q.shape as number[];
    const S = (k.shape as number[])[1];
    let scores = tf.einsum('aecd,abcd->acbe', k, tf.mul(q, 1 / Math.sqrt(args.keyDim)));
    const visible = visibility(args, B, T, S);
    if (visible != null) {
      const adder = tf.mul(tf.sub(1, tf.tensor3d(visible, [B, T, S])), -1e9);
      scores = tf.add(scores, tf.expandDims(adder, 1));
    }
    const context = tf.einsum('acbe,aecd->abcd', tf.softmax(scores), v);
    const out = tf.einsum('abcd,cde->abe', context, w.wo);
    return w.bo == null ? out : tf.add(out, w.bo);
  });
}
