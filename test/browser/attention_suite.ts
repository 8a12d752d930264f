/**
 * scaledDotProductAttention in the page against the plain-tfjs oracle
 * (test/reference/attention_reference.ts): the cases of
 * test/sdpa_parity.test.ts (every listed sequence length, head dimension and
 * kv-head count, key padding, a 513 x 513 causal problem, Dv != D), each mask
 * kind and shape with fully hidden rows, empty dimensions, and seeded random
 * cases, at the Node suites' tolerance (test/helpers/tolerance.ts).
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {scaledDotProductAttention} from 'tfjs-better-transformer';
import {
  AdditiveShape, AttentionCase, attentionCaseArbitrary, describeCase, DEPTHS, HEADS, makeAttentionTensors, SEQ_LENGTHS,
} from '../helpers/attention_cases';
import {closeness} from '../helpers/tolerance';
import {referenceAttention} from '../reference/attention_reference';
import {BrowserCase, check, checkClose, checkShape} from './suite';

function checkCase(c: AttentionCase): void {
  tf.tidy(() => {
    const {q, k, v, options} = makeAttentionTensors(c);
    const actual = scaledDotProductAttention(q, k, v, options);
    checkShape(actual, [c.batch, c.heads, c.querySeq, c.valueDepth], describeCase(c));
    checkClose(actual, referenceAttention(q, k, v, options), describeCase(c));
  });
}

const base: AttentionCase = {
  batch: 1, heads: 1, kvHeads: 1, querySeq: 7, keySeq: 7, depth: 8, valueDepth: 8, mask: 'none',
  maskShape: 'full', keyPadding: 'none', emptyRows: false, isCausal: false, scale: undefined, seed: 11,
};

const SUITE = 'scaledDotProductAttention';
const MASK_SHAPES: AdditiveShape[] = ['full', 'rowsCols', 'perHeadKeys', 'keys', 'perBatch'];

export function attentionCases(): BrowserCase[] {
  const cases: BrowserCase[] = [];
  const add = (name: string, run: () => void) => cases.push({suite: SUITE, name, run});

  for (const s of SEQ_LENGTHS) {
    add(`sequence length ${s} as Sq and as Sk (causal)`, () => {
      checkCase({...base, querySeq: s, keySeq: 7, seed: s});
      checkCase({...base, querySeq: 7, keySeq: s, isCausal: true, seed: s + 1});
    });
  }
  for (const d of DEPTHS) {
    add(`head dimension ${d}`, () => checkCase({...base, depth: d, valueDepth: d, querySeq: 64, keySeq: 64, seed: d}));
  }
  for (const h of HEADS) {
    add(`${h} heads with every kv-head count dividing it`, () => {
      for (let hkv = 1; hkv <= h; hkv++) {
        if (h % hkv === 0) checkCase({...base, heads: h, kvHeads: hkv, batch: 2, seed: h * 10 + hkv});
      }
    });
  }
  for (const b of [1, 2, 3, 4]) {
    add(`batch ${b} with key padding, 129 x 129`, () =>
      checkCase({...base, batch: b, keyPadding: 'int32', querySeq: 129, keySeq: 129, seed: b}));
  }
  for (const mask of ['bool', 'additive'] as const) {
    for (const maskShape of MASK_SHAPES) {
      add(`${mask} mask of shape '${maskShape}' with fully hidden rows and padding`, () =>
        checkCase({...base, batch: 3, heads: 2, querySeq: 5, keySeq: 9, mask, maskShape, emptyRows: true,
                   keyPadding: 'bool', seed: 40 + maskShape.length}));
    }
  }
  add('long sequences: 513 x 513 with causal mask and padding', () =>
    checkCase({...base, batch: 2, heads: 2, kvHeads: 1, querySeq: 513, keySeq: 513, depth: 32, valueDepth: 32,
               isCausal: true, keyPadding: 'bool', seed: 5}));
  add('D = 128 with Dv different from D, additive mask', () =>
    checkCase({...base, heads: 2, depth: 128, valueDepth: 80, querySeq: 64, keySeq: 129, mask: 'additive', seed: 9}));
  add('an empty batch, and a whole batch of empty padding rows', () => {
    checkCase({...base, batch: 0, heads: 2, seed: 12});
    checkCase({...base, batch: 2, keyPadding: 'float32', emptyRows: true, seed: 13});
  });
  add('empty query, key and value dimensions', () => tf.tidy(() => {
    const run = (B: number, Sq: number, Sk: number, Dv: number) => scaledDotProductAttention(
        tf.ones([B, 2, Sq, 4]) as tf.Tensor4D, tf.ones([B, 1, Sk, 4]) as tf.Tensor4D, tf.ones([B, 1, Sk, Dv]) as tf.Tensor4D);
    checkShape(run(2, 0, 3, 4), [2, 2, 0, 4], 'Sq = 0');
    checkShape(run(2, 3, 3, 0), [2, 2, 3, 0], 'Dv = 0');
    const noKeys = run(2, 3, 0, 4);
    checkShape(noKeys, [2, 2, 3, 4], 'Sk = 0');
    check(Array.from(noKeys.dataSync()).every(x => x === 0), 'Sk = 0: the output is not all zeros');
  }));
  add('is stable for large-magnitude scores (softmax max subtraction)', () => tf.tidy(() => {
    const q = tf.round(tf.mul(tf.randomUniform([2, 3, 17, 64], -1, 1, 'float32', 1), 8)) as tf.Tensor4D;
    const k = tf.round(tf.mul(tf.randomUniform([2, 3, 33, 64], -1, 1, 'float32', 2), 8)) as tf.Tensor4D;
    const v = tf.randomNormal([2, 3, 33, 16], 0, 1, 'float32', 3) as tf.Tensor4D;
    for (const isCausal of [false, true]) {
      const actual = scaledDotProductAttention(q, k, v, {scale: 1, isCausal});
      check(Array.from(actual.dataSync()).every(Number.isFinite), `isCausal ${isCausal}: non-finite output`);
      checkClose(actual, referenceAttention(q, k, v, {scale: 1, isCausal}), `isCausal ${isCausal}`);
    }
  }));
  add('random cases (fast-check, 40 runs)', () =>
    fc.assert(fc.property(attentionCaseArbitrary(2_000_000), c => checkCase(c)), {numRuns: 40, seed: 20261128}));
  add('the comparison itself fails on an output off by 1e-4 relative (control)', () => tf.tidy(() => {
    const {q, k, v, options} = makeAttentionTensors({...base, seed: 77});
    const expected = referenceAttention(q, k, v, options);
    const off = tf.mul(scaledDotProductAttention(q, k, v, options), 1 + 1e-4);
    check(!closeness(off.dataSync(), expected.dataSync()).ok, 'an output 1e-4 off passed the 1e-5 tolerance');
  }));
  return cases;
}
