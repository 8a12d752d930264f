/** Seeded random tensors and masks for parity tests. */
import * as tf from '@tensorflow/tfjs-core';

/** Small deterministic PRNG (mulberry32) for mask patterns. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(shape: number[], seed: number, std = 1): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', seed);
}

/** [B, S] padding mask with `lengths[b]` real tokens, right-padded (or left-padded). */
export function paddingMask(lengths: number[], seq: number, dtype: 'int32' | 'bool' | 'float32' = 'int32',
                            side: 'right' | 'left' = 'right'): tf.Tensor2D {
  const data = new Array<number>(lengths.length * seq).fill(0);
  lengths.forEach((len, b) => {
    for (let s = 0; s < len; s++) data[b * seq + (side === 'right' ? s : seq - 1 - s)] = 1;
  });
  const t = tf.tensor2d(data, [lengths.length, seq], 'int32');
  if (dtype === 'int32') return t;
  const cast = tf.cast(t, dtype) as tf.Tensor2D;
  t.dispose();
  return cast;
}

/** A random boolean tensor with P(true) = `pTrue`. */
export function randomBool(shape: number[], seed: number, pTrue = 0.7): tf.Tensor {
  const r = rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Array.from({length: size}, () => r() < pTrue), shape, 'bool');
}
