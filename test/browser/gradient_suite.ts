/**
 * Gradients in the page: scaledDotProductAttention's fused backward against
 * tfjs's autodiff of the plain-tfjs oracle (the core ops' gradients come from
 * tfjs-layers, which the browser build imports), at test/sdpa_grad.test.ts's
 * tolerance, on a few of its cases.
 */
import * as tf from '@tensorflow/tfjs-core';
import {scaledDotProductAttention} from 'tfjs-better-transformer';
import {AttentionCase, describeCase, makeAttentionTensors, maskShapeFor} from '../helpers/attention_cases';
import {randn} from '../helpers/random';
import {closeness, gradTolerance} from '../helpers/tolerance';
import {referenceAttention} from '../reference/attention_reference';
import {BrowserCase, check} from './suite';

/** Gradients of sum(attention(...) · w) for a fixed random w, w.r.t. q, k, v (and an additive mask). */
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

const fused = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, options: object = {}) =>
    scaledDotProductAttention(q as tf.Tensor4D, k as tf.Tensor4D, v as tf.Tensor4D, options);

function checkGradients(c: AttentionCase): void {
  const expected = gradients(c, referenceAttention);
  const actual = gradients(c, fused);
  check(actual.length === expected.length, `${actual.length} gradients instead of ${expected.length}`);
  const maskSize = maskShapeFor(c).reduce((a, b) => a * b, 1);
  const terms = [c.keySeq, c.querySeq * c.heads / c.kvHeads, c.querySeq * c.heads / c.kvHeads,
                 (c.batch * c.heads * c.querySeq * c.keySeq) / maskSize];
  ['dq', 'dk', 'dv', 'dMask'].slice(0, actual.length).forEach((name, i) => {
    const result = closeness(actual[i], expected[i], gradTolerance(terms[i]));
    if (!result.ok) throw new Error(`${name} ${describeCase(c)}: ${result.detail}`);
  });
}

const base: AttentionCase = {
  batch: 2, heads: 2, kvHeads: 2, querySeq: 7, keySeq: 9, depth: 8, valueDepth: 6, mask: 'none',
  maskShape: 'full', keyPadding: 'none', emptyRows: false, isCausal: false, scale: undefined, seed: 3,
};

export function gradientCases(): BrowserCase[] {
  const cases: Array<[string, AttentionCase]> = [
    ['no masks', base],
    ['grouped-query heads (dk, dv summed over the group)', {...base, heads: 12, kvHeads: 3, seed: 4}],
    ['causal masking with Sq != Sk', {...base, isCausal: true, querySeq: 9, keySeq: 7}],
    ['key padding and fully masked rows', {...base, keyPadding: 'float32', emptyRows: true, batch: 3}],
    ['an additive mask (its gradient too)', {...base, mask: 'additive', maskShape: 'perHeadKeys', seed: 6}],
  ];
  return cases.map(([name, c]) => ({suite: 'scaledDotProductAttention gradients', name, run: () => checkGradients(c)}));
}
