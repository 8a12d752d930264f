/**
 * sentence-transformers' Pooling (mean over real tokens) and Normalize (L2)
 * modules as tfjs ops. The mask is applied explicitly, so padded rows are
 * ignored whether the encoder computed them (original graph) or zeroed them
 * (fused encoder layers skip padding).
 */
import * as tf from '@tensorflow/tfjs-core';

/** hidden [B, S, H], attentionMask [B, S] (1 = real token) → [B, H] mean of the real tokens' rows. */
export function meanPool(hidden: tf.Tensor3D, attentionMask: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const [batch, , width] = hidden.shape;
    const mask = tf.cast(attentionMask, 'float32');
    // The masked sum as a batched [1, S]·[S, H] product: on tfjs-backend-cpu a broadcast multiply
    // over [B, S, H] followed by a sum costs more than the whole fused encoder stack.
    const summed = tf.reshape(tf.matMul(tf.expandDims(mask, 1), hidden), [batch, width]);
    const counts = tf.maximum(tf.sum(mask, 1, true), 1e-9);
    return tf.div(summed, counts) as tf.Tensor2D;
  });
}

/** Rows scaled to unit L2 norm (a zero row stays zero), as torch.nn.functional.normalize. */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 'euclidean', 1, true), 1e-12)) as tf.Tensor2D);
}

/**
 * meanPool (and l2Normalize when `normalize`) on typed arrays: hidden is
 * [batch, seq, width] row-major, attentionMask [batch, seq]; returns one
 * Float32Array per sentence. What `SentenceEmbedder.embed` uses: a handful of
 * tfjs ops per batch cost more than the arithmetic at batch 1.
 */
export function poolSentences(hidden: Float32Array, attentionMask: ArrayLike<number>, batch: number, seq: number,
    width: number, normalize: boolean): Float32Array[] {
  if (hidden.length !== batch * seq * width || attentionMask.length !== batch * seq) {
    throw new RangeError(`poolSentences: expected ${batch}x${seq}x${width} hidden values and ${batch}x${seq} mask values`);
  }
  const out: Float32Array[] = [];
  const sum = new Float64Array(width);
  for (let b = 0; b < batch; b++) {
    sum.fill(0);
    let count = 0;
    for (let s = 0; s < seq; s++) {
      const m = attentionMask[b * seq + s];
      if (m === 0) continue;
      count += m;
      const base = (b * seq + s) * width;
      for (let j = 0; j < width; j++) sum[j] += m * hidden[base + j];
    }
    const row = new Float32Array(width);
    const denominator = Math.max(count, 1e-9);
    for (let j = 0; j < width; j++) row[j] = sum[j] / denominator;
    if (normalize) {
      let squares = 0;
      for (let j = 0; j < width; j++) squares += row[j] * row[j];
      const norm = Math.max(Math.sqrt(squares), 1e-12);
      for (let j = 0; j < width; j++) row[j] /= norm;
    }
    out.push(row);
  }
  return out;
}
