/**
 * Random inputs for a graph model's signature: token ids, a padding mask with
 * the requested fraction of padded tokens spread over the batch (row i keeps
 * a length between S·(1 − 2p) and S), zero token types, normal pixel values
 * or audio features. Unknown dimensions other than batch and sequence are an error.
 */
import * as tf from '@tensorflow/tfjs-core';

export interface InputSpec {
  name: string;
  shape?: number[];
  dtype?: string;
}

export function paddedLengths(batch: number, seq: number, padding: number): number[] {
  if (padding <= 0) return new Array(batch).fill(seq);
  const lengths: number[] = [];
  for (let i = 0; i < batch; i++) {
    const t = batch === 1 ? 0.5 : i / (batch - 1);
    const fraction = Math.min(0.9999, 2 * padding * t);
    lengths.push(Math.max(1, Math.round(seq * (1 - fraction))));
  }
  return lengths;
}

function resolveShape(spec: InputSpec, batch: number, seq: number): number[] {
  const shape = spec.shape ?? [-1, -1];
  return shape.map((d, i) => {
    if (d >= 0) return d;
    if (i === 0) return batch;
    if (i === 1) return seq;
    throw new Error(`input '${spec.name}' has an unknown dimension ${i}; only batch and sequence may be dynamic`);
  });
}

/**
 * `maxIds`: integer inputs (token ids) are drawn from [1, 20), or from
 * [1, maxIds[name]) where the model looks them up in a table of that many rows
 * (zeros where it has fewer than two).
 */
export function randomInputs(specs: InputSpec[], batch: number, seq: number, padding: number, seed = 1,
    maxIds: Record<string, number> = {}): {
  inputs: tf.NamedTensorMap; validTokens: number[][] | null;
} {
  const inputs: tf.NamedTensorMap = {};
  let validTokens: number[][] | null = null;
  // Every shape is resolved before any tensor is made: an input that cannot be
  // probed must not leave the others' tensors behind.
  const shapes = specs.map(spec => resolveShape(spec, batch, seq));
  for (const [i, spec] of specs.entries()) {
    const key = spec.name.replace(/:0$/, '');
    const shape = shapes[i];
    const isInt = spec.dtype === 'int32' || spec.dtype === 'DT_INT32';
    if (/mask/i.test(key) && shape.length === 2) {
      const lengths = paddedLengths(shape[0], shape[1], padding);
      validTokens = lengths.map(len => Array.from({length: shape[1]}, (_, j) => (j < len ? 1 : 0)));
      inputs[key] = tf.tensor2d(validTokens, shape as [number, number], isInt ? 'int32' : 'float32');
    } else if (/type/i.test(key)) {
      inputs[key] = tf.zeros(shape, isInt ? 'int32' : 'float32');
    } else if (isInt) {
      const maxId = Math.min(20, maxIds[key] ?? 20);
      inputs[key] = maxId >= 2 ? tf.randomUniformInt(shape, 1, maxId, seed) : tf.zeros(shape, 'int32');
    } else {
      inputs[key] = tf.randomNormal(shape, 0, 1, 'float32', seed);
    }
  }
  return {inputs, validTokens};
}
