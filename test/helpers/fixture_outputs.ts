/** Running a fixture model and comparing outputs on real (unpadded) tokens. */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {maxRelativeDifference} from '../../src/transform/verify/output_difference';

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
  return maxRelativeDifference(want, got, validTokens);
}
