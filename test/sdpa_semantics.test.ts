/**
 * The documented semantics of scaledDotProductAttention on small hand-checked
 * cases: causal alignment, all-masked rows, GQA head mapping, mask dtypes,
 * NaN/Inf propagation and empty dimensions. Runs on the fused cpu kernel and
 * on the composite fallback.
 */
import * as tf from '@tensorflow/tfjs-core';
import {scaledDotProductAttention, setKernelPreference} from '../src';
import {expectClose} from './helpers/tolerance';
import {paddingMask, randn} from './helpers/random';
import {referenceAttention} from './reference/attention_reference';

/** softmax(scores)·v for one query row, computed in float64 by hand. */
function manualRow(q: number[], keys: number[][], values: number[][], scale: number): number[] {
  const s = keys.map(k => k.reduce((acc, kd, d) => acc + kd * q[d], 0) * scale);
  const m = Math.max(...s);
  const w = s.map(x => Math.exp(x - m));
  const z = w.reduce((a, b) => a + b, 0);
  return values[0].map((_, d) => values.reduce((acc, v, j) => acc + w[j] * v[d], 0) / z);
}

describe.each(['auto', 'composite'] as const)('scaledDotProductAttention semantics (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('defaults the scale to 1/sqrt(D)', () => {
    tf.tidy(() => {
      const q = randn([1, 1, 3, 16], 1) as tf.Tensor4D, k = randn([1, 1, 5, 16], 2) as tf.Tensor4D;
      const v = randn([1, 1, 5, 4], 3) as tf.Tensor4D;
      expectClose(scaledDotProductAttention(q, k, v), scaledDotProductAttention(q, k, v, {scale: 0.25}));
    });
  });

  it('aligns the causal mask bottom-right when Sq < Sk (decoding with a cache)', () => {
    tf.tidy(() => {
      const qa = [[0.5, -1], [1, 2]];
      const ka = [[1, 0], [0, 1], [1, 1], [-1, 2]];
      const va = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]];
      const out = scaledDotProductAttention(
          tf.tensor4d([[qa]]), tf.tensor4d([[ka]]), tf.tensor4d([[va]]), {isCausal: true, scale: 1}).arraySync()[0][0];
      // Sk - Sq = 2: row 0 sees keys 0..2, row 1 sees keys 0..3.
      const expected = [
        manualRow(qa[0], ka.slice(0, 3), va.slice(0, 3), 1),
        manualRow(qa[1], ka, va, 1),
      ];
      expectClose(tf.tensor(out), tf.tensor(expected));
    });
  });

  it('gives zero rows when Sq > Sk under a causal mask (rows before the first key)', () => {
    tf.tidy(() => {
      const out = scaledDotProductAttention(
          randn([1, 2, 5, 4], 4) as tf.Tensor4D, randn([1, 2, 3, 4], 5) as tf.Tensor4D,
          randn([1, 2, 3, 4], 6) as tf.Tensor4D, {isCausal: true});
      const rows = out.arraySync()[0];
      for (const head of rows) {
        expect(head[0]).toEqual([0, 0, 0, 0]);
        expect(head[1]).toEqual([0, 0, 0, 0]);
        expect(head[2].some(x => x !== 0)).toBe(true);
      }
    });
  });

  it('returns zeros, never NaN, for rows whose keys are all masked (every mask kind)', () => {
    tf.tidy(() => {
      const q = randn([2, 1, 3, 4], 7) as tf.Tensor4D, k = randn([2, 1, 3, 4], 8) as tf.Tensor4D;
      const v = randn([2, 1, 3, 4], 9) as tf.Tensor4D;
      const boolMask = tf.tensor([[true, true, true], [false, false, false], [true, false, true]], [3, 3], 'bool');
      const floatMask = tf.tensor([[0, 0, 0], [-Infinity, -Infinity, -Infinity], [0, -Infinity, 0]], [3, 3]);
      for (const attnMask of [boolMask, floatMask]) {
        const out = scaledDotProductAttention(q, k, v, {attnMask}).arraySync();
        for (const b of [0, 1]) {
          expect(out[b][0][1]).toEqual([0, 0, 0, 0]);
          expect(out[b][0][0].every(Number.isFinite)).toBe(true);
        }
      }
      const padded = scaledDotProductAttention(q, k, v, {keyPaddingMask: paddingMask([3, 0], 3)}).arraySync();
      expect(padded[1][0]).toEqual([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]);
      expect(padded[0][0].flat().every(Number.isFinite)).toBe(true);
    });
  });

  it('maps query head h to kv head floor(h / (H / Hkv))', () => {
    tf.tidy(() => {
      // q = 0: every key gets the same weight, so each head returns the mean of its kv head's values.
      const v = tf.tensor4d([[[[1], [3]], [[10], [30]]]]);  // [1, Hkv=2, Sk=2, 1]
      const out = scaledDotProductAttention(tf.zeros([1, 4, 1, 2]) as tf.Tensor4D,
                                            tf.zeros([1, 2, 2, 2]) as tf.Tensor4D, v);
      expect(Array.from(out.dataSync())).toEqual([2, 2, 20, 20]);
    });
  });

  it('accepts key padding masks of dtype int32, bool and float32 alike', () => {
    tf.tidy(() => {
      const q = randn([3, 2, 6, 8], 10) as tf.Tensor4D, k = randn([3, 2, 6, 8], 11) as tf.Tensor4D;
      const v = randn([3, 2, 6, 8], 12) as tf.Tensor4D;
      const outs = (['int32', 'bool', 'float32'] as const).map(
          dtype => scaledDotProductAttention(q, k, v, {keyPaddingMask: paddingMask([6, 2, 4], 6, dtype)}));
      expectClose(outs[1], outs[0]);
      expectClose(outs[2], outs[0]);
    });
  });

  it('combines every mask kind at once like the reference', () => {
    tf.tidy(() => {
      const q = randn([2, 4, 9, 8], 13) as tf.Tensor4D, k = randn([2, 2, 11, 8], 14) as tf.Tensor4D;
      const v = randn([2, 2, 11, 5], 15) as tf.Tensor4D;
      const options = {
        attnMask: tf.where(tf.greater(randn([1, 4, 9, 11], 16), 1.2), tf.scalar(-Infinity), randn([1, 4, 9, 11], 17)),
        keyPaddingMask: paddingMask([11, 7], 11, 'float32', 'left'),
        isCausal: true,
        scale: 0.3,
      };
      expectClose(scaledDotProductAttention(q, k, v, options), referenceAttention(q, k, v, options));
    });
  });

  it('propagates NaN and Infinity from the inputs instead of crashing or hiding them', () => {
    tf.tidy(() => {
      const q = randn([1, 1, 3, 4], 18).bufferSync();
      q.set(NaN, 0, 0, 1, 2);  // query row 1 only
      const k = randn([1, 1, 3, 4], 19) as tf.Tensor4D, v = randn([1, 1, 3, 4], 20).bufferSync();
      const out = scaledDotProductAttention(q.toTensor() as tf.Tensor4D, k, v.toTensor() as tf.Tensor4D).arraySync();
      expect(out[0][0][1].every(Number.isNaN)).toBe(true);
      expect(out[0][0][0].every(Number.isFinite)).toBe(true);
      expect(out[0][0][2].every(Number.isFinite)).toBe(true);

      v.set(Infinity, 0, 0, 0, 0);
      const withInf = scaledDotProductAttention(randn([1, 1, 3, 4], 21) as tf.Tensor4D, k,
                                                v.toTensor() as tf.Tensor4D).arraySync();
      expect(withInf[0][0].every(row => !Number.isFinite(row[0]))).toBe(true);
      expect(withInf[0][0].every(row => row.slice(1).every(Number.isFinite))).toBe(true);
    });
  });

  it('handles empty batch, query, key and value dimensions', () => {
    tf.tidy(() => {
      const run = (B: number, Sq: number, Sk: number, Dv: number) => scaledDotProductAttention(
          tf.ones([B, 2, Sq, 4]) as tf.Tensor4D, tf.ones([B, 1, Sk, 4]) as tf.Tensor4D, tf.ones([B, 1, Sk, Dv]) as tf.Tensor4D);
      expect(run(0, 3, 3, 4).shape).toEqual([0, 2, 3, 4]);
      expect(run(2, 0, 3, 4).shape).toEqual([2, 2, 0, 4]);
      expect(run(2, 3, 3, 0).shape).toEqual([2, 2, 3, 0]);
      const noKeys = run(2, 3, 0, 4);
      expect(noKeys.shape).toEqual([2, 2, 3, 4]);
      expect(Array.from(noKeys.dataSync()).every(x => x === 0)).toBe(true);
    });
  });
});
