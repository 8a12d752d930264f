/**
 * What checking a converted model's weights needs without a file system: the
 * error a damaged model raises and the bytes a weights manifest describes.
 * Shared by the Node reader (model_files.ts) and the browser build
 * (model_files.browser.ts).
 */
import type * as tf from '@tensorflow/tfjs-core';

export class ModelFileError extends Error {}

const BYTES: Record<string, number> = {float32: 4, int32: 4, bool: 1, uint8: 1, float16: 2, uint16: 2, int8: 1, int16: 2, complex64: 8};

/** The bytes one weight takes in its shard (its quantised dtype when quantised). */
export function specBytes(spec: tf.io.WeightsManifestEntry): number {
  const count = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization) return count * BYTES[spec.quantization.dtype];
  const size = BYTES[spec.dtype];
  if (size === undefined) throw new ModelFileError(`weight '${spec.name}' has unsupported dtype ${spec.dtype}`);
  return count * size;
}

/**
 * The bytes the weight specs describe, in order: where a weight buffer's data
 * ends (a model's buffer may hold trailing bytes after it, which tfjs ignores).
 */
export function weightSpecsByteLength(specs: readonly tf.io.WeightsManifestEntry[]): number {
  return specs.reduce((n, spec) => n + specBytes(spec), 0);
}
