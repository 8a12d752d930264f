/**
 * The gradient check shared by test/sdpa_grad.test.ts (Node) and test/browser/gradient_suite.ts (the
 * page): scaledDotProductAttention's fused backward against tfjs's autodiff of the plain-ops oracle,
 * for sum(attention(...) · w) with a fixed random w, w.r.t. q, k, v (and an additive mask). Throws
 * on a mismatch, naming the gradient and the case.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {ScaledDotProductAttentionOptions} from '../../src/ops/scaled_dot_product_attention';
import {AttentionCase, describeCase, makeAttentionTensors, maskShapeFor} from './attention_cases';
import {randn} from './random';
import {closeness, gradTolerance} from './tolerance';
import {referenceAttention} from '../reference/attention_reference';

export type AttentionFunction =
    (q: tf.Tensor4D, k: tf.Tensor4D, v: tf.Tensor4D, options?: ScaledDotProductAttentionOptions) => tf.Tensor4D;

/** The small case the gradient tests vary. */
export const GRADIENT_BASE_CASE: AttentionCase = {
  batch: 2, heads: 2, kvHeads: 2, querySeq: 7, keySeq: 9, depth: 8, valueDepth: 6, mask: 'none',
  maskShape: 'full', keyPadding: 'none', emptyRows: false, isCausal: false, scale: undefined, seed: 3,
};

function gradients(c: AttentionCase, attention: typeof referenceAttention): Float32Array[] {
  return tf.tidy(() => {
    const {q, k, v, options} = makeAttentionTensors(c);
    const w = randn([c.batch, c.heads, c.querySeq, c.valueDepth], c.seed + 7);
    const additive = options.attnMask?.dtype === 'float32';
    const xs = additive ? [q, k, v, options.attnMask as tf.Tensor] : [q, k, v];
    const f = (...ts: tf.Tensor[]) =>
        tf.sum(tf.mul(attention(ts[0], ts[1], ts[2], {...options, attnMask: additive ? ts[3] : options.attnMask}), w));
    return tf.grads(f)(xs).map(g => g.dataSync() as Float32Array);
  });
}

export function checkAttentionGradients(c: AttentionCase, scaledDotProductAttention: AttentionFunction): void {
  const fused = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: object = {}) =>
      scaledDotProductAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, options);
  const expected = gradients(c, referenceAttention);
  const actual = gradients(c, fused);
  if (actual.length !== expected.length) throw new Error(`${actual.length} gradients instead of ${expected.length}`);
  const maskSize = maskShapeFor(c).reduce((a, b) => a * b, 1);
  const terms = [c.keySeq, c.querySeq * c.heads / c.kvHeads, c.querySeq * c.heads / c.kvHeads,
                 (c.batch * c.heads * c.querySeq * c.keySeq) / maskSize];
  ['dq', 'dk', 'dv', 'dMask'].slice(0, actual.length).forEach((name, i) => {
    // Masked positions have -Infinity scores; their gradient is 0 on both sides.
    const result = closeness(actual[i], expected[i], gradTolerance(terms[i]));
    if (!result.ok) throw new Error(`${name} ${describeCase(c)}: ${result.detail}`);
  });
}
