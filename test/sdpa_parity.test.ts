/**
 * Fused scaledDotProductAttention (the kernel registered for `cpu`) against
 * the plain-tfjs oracle over random shapes, masks and options.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {activeImplementations, scaledDotProductAttention} from '../src';
import {
  AttentionCase, attentionCaseArbitrary, describeCase, DEPTHS, HEADS, makeAttentionTensors, SEQ_LENGTHS,
} from './helpers/attention_cases';
import {expectedFusedImplementation} from './helpers/backend';
import {closeness} from './helpers/tolerance';
import {referenceAttention} from './reference/attention_reference';

function checkCase(c: AttentionCase): void {
  tf.tidy(() => {
    const {q, k, v, options} = makeAttentionTensors(c);
    const actual = scaledDotProductAttention(q, k, v, options);
    const expected = referenceAttention(q, k, v, options);
    expect(actual.shape).toEqual([c.batch, c.heads, c.querySeq, c.valueDepth]);
    const result = closeness(actual.dataSync(), expected.dataSync());
    if (!result.ok) throw new Error(`${describeCase(c)}: ${result.detail}`);
  });
}

const base: AttentionCase = {
  batch: 1, heads: 1, kvHeads: 1, querySeq: 7, keySeq: 7, depth: 8, valueDepth: 8, mask: 'none',
  maskShape: 'full', keyPadding: 'none', emptyRows: false, isCausal: false, scale: undefined, seed: 11,
};

describe('scaledDotProductAttention parity (fused cpu kernel vs tfjs ops)', () => {
  it('runs the implementation expected on this backend', () => {
    expect(activeImplementations().scaledDotProductAttention).toBe(expectedFusedImplementation());
  });

  // Every listed size appears at least once, with small companions to stay fast.
  it.each(SEQ_LENGTHS)('sequence length %i as Sq and as Sk', s => {
    checkCase({...base, querySeq: s, keySeq: 7, seed: s});
    checkCase({...base, querySeq: 7, keySeq: s, isCausal: true, seed: s + 1});
  });
  it.each(DEPTHS)('head dimension %i', d => {
    checkCase({...base, depth: d, valueDepth: d, querySeq: 64, keySeq: 64, seed: d});
  });
  it.each(HEADS)('%i heads with every kv-head count dividing it', h => {
    for (let hkv = 1; hkv <= h; hkv++) {
      if (h % hkv === 0) checkCase({...base, heads: h, kvHeads: hkv, batch: 2, seed: h * 10 + hkv});
    }
  });
  it.each([1, 2, 3, 4])('batch %i with key padding', b => {
    checkCase({...base, batch: b, keyPadding: 'int32', querySeq: 129, keySeq: 129, seed: b});
  });
  it('long sequences: 513 x 513 with causal mask and padding', () => {
    checkCase({...base, batch: 2, heads: 2, kvHeads: 1, querySeq: 513, keySeq: 513, depth: 32, valueDepth: 32,
               isCausal: true, keyPadding: 'bool', seed: 5});
  });
  it('D = 128 with Dv different from D', () => {
    checkCase({...base, heads: 2, depth: 128, valueDepth: 80, querySeq: 64, keySeq: 129, mask: 'additive', seed: 9});
  });

  it('matches on random cases (fast-check)', () => {
    fc.assert(fc.property(attentionCaseArbitrary(2_000_000), c => checkCase(c)), {numRuns: 60, seed: 20261128});
  });

  it('is stable for large-magnitude scores (softmax max subtraction)', () => {
    // Integer q and k with scale 1 make every score exact in float32, so both
    // sides see identical logits of magnitude up to thousands.
    tf.tidy(() => {
      const q = tf.round(tf.mul(tf.randomUniform([2, 3, 17, 64], -1, 1, 'float32', 1), 8)) as tf.Tensor4D;
      const k = tf.round(tf.mul(tf.randomUniform([2, 3, 33, 64], -1, 1, 'float32', 2), 8)) as tf.Tensor4D;
      const v = tf.randomNormal([2, 3, 33, 16], 0, 1, 'float32', 3) as tf.Tensor4D;
      for (const isCausal of [false, true]) {
        const actual = scaledDotProductAttention(q, k, v, {scale: 1, isCausal});
        const expected = referenceAttention(q, k, v, {scale: 1, isCausal});
        const values = actual.dataSync();
        expect(values.every(Number.isFinite)).toBe(true);
        const result = closeness(values, expected.dataSync());
        if (!result.ok) throw new Error(result.detail);
      }
    });
  });
});
