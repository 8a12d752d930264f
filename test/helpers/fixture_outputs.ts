/** Running a fixture model and comparing outputs on real (unpadded) tokens. */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';

export function outputsOf(model: GraphModel, inputs: tf.NamedTensorMap, names: string[]): Record<string, tf.Tensor> {
  const out = model.execute(inputs, names);
  const list = Array.isArray(out) ? out : [out];
  return Object.fromEntries(names.map((n, i) => [n, list[i]]));
}

export function validTokensOf(reference: {validTokens?: {shape: number[]; data: number[]} | null}): number[][] | null {
  const v = reference.validTokens;
  if (!v) return null;
  const [b, s] = v.shape;
  return Array.from({length: b}, (_, i) => v.data.slice(i * s, (i + 1) * s));
}

/**
 * max |got − want| / max |want| over real tokens of [B, S, ...] outputs (all
 * elements otherwise). Padded rows differ by design: the fused encoder layer
 * skips them.
 */
export function relativeErrorOnTokens(got: tf.Tensor, want: tf.Tensor, validTokens: number[][] | null): number {
  if (got.shape.join(',') !== want.shape.join(',')) return Infinity;
  return tf.tidy(() => {
    let diff = tf.abs(tf.sub(got, want));
    let scale = tf.abs(want);
    if (validTokens && got.rank >= 2 && got.shape[0] === validTokens.length && got.shape[1] === validTokens[0].length) {
      const mask = tf.reshape(tf.tensor2d(validTokens), [got.shape[0], got.shape[1], ...new Array(got.rank - 2).fill(1)]);
      diff = tf.mul(diff, mask);
      scale = tf.mul(scale, mask);
    }
    const d = tf.max(diff).dataSync()[0];
    if (Number.isNaN(d)) return Infinity;
    return d / Math.max(tf.max(scale).dataSync()[0], 1e-12);
  });
}
