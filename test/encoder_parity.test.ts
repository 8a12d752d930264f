/**
 * Fused transformerEncoderLayer (cpu kernel with padding removal, and the
 * composite fallback) against the plain-tfjs oracle.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {
  activeImplementations, setKernelPreference, transformerEncoderLayer, TransformerEncoderLayerWeights,
} from '../src';
import {expectedFusedImplementation} from './helpers/backend';
import {caseAttentionBias, randomEncoderWeights, randomEncoderWeightsOf, t5Lengths} from './helpers/encoder_weights';
import {paddingMask, randn, rng} from './helpers/random';
import {closeness, expectClose} from './helpers/tolerance';
import {referenceEncoderLayer} from './reference/encoder_reference';

interface EncoderCase {
  batch: number; seq: number; heads: number; headDim: number; ffn: number;
  normFirst: boolean; activation: 'gelu' | 'gelu_tanh' | 'relu' | 'silu'; eps: [number, number];
  packed: boolean; padding: 'none' | 'right' | 'left'; isCausal: boolean; seed: number;
}

function checkEncoder(c: EncoderCase): void {
  tf.tidy(() => {
    const embed = c.heads * c.headDim;
    const x = randn([c.batch, c.seq, embed], c.seed);
    const w = randomEncoderWeights(embed, c.ffn, c.seed, c.packed);
    const r = rng(c.seed);
    // Lengths include 0 and 1 when the batch allows it.
    const lengths = Array.from({length: c.batch}, (_, b) => b === 0 ? c.seq : b === 1 ? 0 : b === 2 ? 1 :
                                                   Math.floor(r() * (c.seq + 1)));
    const keyPaddingMask = c.padding === 'none' ? undefined : paddingMask(lengths, c.seq, 'int32', c.padding);
    const actual = transformerEncoderLayer(x as tf.Tensor3D, w as unknown as TransformerEncoderLayerWeights, {
      numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, layerNormEps: c.eps,
      keyPaddingMask, isCausal: c.isCausal,
    });
    const expected = referenceEncoderLayer(x, w, {
      numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, eps: c.eps, isCausal: c.isCausal,
      keyPaddingMask,
    });
    expect(actual.shape).toEqual([c.batch, c.seq, embed]);
    const result = closeness(actual.dataSync(), expected.dataSync());
    if (!result.ok) throw new Error(`${JSON.stringify(c)}: ${result.detail}`);
  });
}

const base: EncoderCase = {
  batch: 4, seq: 9, heads: 2, headDim: 8, ffn: 37, normFirst: false, activation: 'gelu', eps: [1e-12, 1e-12],
  packed: true, padding: 'right', isCausal: false, seed: 1,
};

const caseArbitrary: fc.Arbitrary<EncoderCase> = fc.record({
  batch: fc.integer({min: 1, max: 4}),
  seq: fc.constantFrom(1, 2, 5, 17, 33),
  heads: fc.constantFrom(1, 2, 3, 4),
  headDim: fc.constantFrom(1, 4, 8, 16),
  ffn: fc.constantFrom(1, 16, 37, 64),
  normFirst: fc.boolean(),
  activation: fc.constantFrom<EncoderCase['activation']>('gelu', 'gelu_tanh', 'relu', 'silu'),
  eps: fc.constantFrom<[number, number]>([1e-5, 1e-5], [1e-12, 1e-12], [1e-6, 1e-3]),
  packed: fc.boolean(),
  padding: fc.constantFrom<EncoderCase['padding']>('none', 'right', 'left'),
  isCausal: fc.boolean(),
  seed: fc.integer({min: 1, max: 1 << 30}),
});

describe.each(['auto', 'composite'] as const)('transformerEncoderLayer parity (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('uses the expected implementation', () => {
    expect(activeImplementations().transformerEncoderLayer)
        .toBe(preference === 'auto' ? expectedFusedImplementation() : 'composite-tfjs-ops');
  });
  it.each([false, true])('normFirst = %s (post-norm when false, pre-norm when true)', normFirst =>
    checkEncoder({...base, normFirst}));
  it.each(['gelu', 'gelu_tanh', 'relu', 'silu'] as const)('activation %s', activation =>
    checkEncoder({...base, activation, seed: 2}));
  it('a different eps for each LayerNorm', () => checkEncoder({...base, eps: [1e-3, 1e-6], seed: 3}));
  it('separate Q, K and V weights', () => checkEncoder({...base, packed: false, seed: 4}));
  it('no padding, right padding and left padding (lengths 0 and 1 included)', () => {
    for (const padding of ['none', 'right', 'left'] as const) checkEncoder({...base, padding, seed: 5});
  });
  it('causal self-attention with padding (decoder-style blocks such as GPT-2)', () =>
    checkEncoder({...base, isCausal: true, normFirst: true, activation: 'gelu_tanh', padding: 'left', seed: 6}));
  it('random configurations (fast-check)', () => {
    fc.assert(fc.property(caseArbitrary, c => checkEncoder(c)), {numRuns: preference === 'auto' ? 40 : 15, seed: 8});
  });
});

describe('transformerEncoderLayer padded rows', () => {
  it('are exactly zero, and real rows do not depend on padded inputs', () => {
    tf.tidy(() => {
      const w = randomEncoderWeights(16, 32, 9, true) as unknown as TransformerEncoderLayerWeights;
      const mask = paddingMask([5, 2], 6);
      const x1 = randn([2, 6, 16], 10) as tf.Tensor3D;
      // Same real tokens, different garbage in the padded positions.
      const noise = tf.mul(randn([2, 6, 16], 11), tf.reshape(tf.cast(tf.equal(mask, 0), 'float32'), [2, 6, 1]));
      const x2 = tf.add(x1, tf.mul(noise, 100)) as tf.Tensor3D;
      const y1 = transformerEncoderLayer(x1, w, {numHeads: 4, keyPaddingMask: mask});
      const y2 = transformerEncoderLayer(x2, w, {numHeads: 4, keyPaddingMask: mask});
      expectClose(y2, y1, {rtol: 0, atol: 0});
      const rows = y1.arraySync();
      expect(rows[0][5].every(v => v === 0)).toBe(true);
      expect(rows[1].slice(2).every(row => row.every(v => v === 0))).toBe(true);
      expect(rows[1][1].some(v => v !== 0)).toBe(true);
    });
  });
});

/** T5-class forms: RMSNorm, gated MLP, no biases, a per-head attention bias [1 or B, H, S, S]. */
interface T5Case {
  batch: number; seq: number; heads: number; headDim: number; ffn: number; normFirst: boolean;
  activation: 'gelu' | 'gelu_tanh' | 'relu'; normKind: 'layer' | 'rms'; gated: boolean; biases: boolean;
  packed: boolean; attentionBias: 'none' | 'shared' | 'perBatch'; padding: 'none' | 'right' | 'left';
  isCausal: boolean; scale: number | undefined; seed: number;
}

function checkT5Layer(c: T5Case): void {
  tf.tidy(() => {
    const embed = c.heads * c.headDim;
    const x = randn([c.batch, c.seq, embed], c.seed) as tf.Tensor3D;
    const w = randomEncoderWeightsOf(embed, c.ffn, c.seed, {
      packed: c.packed, gated: c.gated, biases: c.biases, rms: c.normKind === 'rms',
    });
    const keyPaddingMask = c.padding === 'none' ? undefined : paddingMask(t5Lengths(c.batch, c.seq, c.seed), c.seq, 'int32', c.padding);
    const attentionBias = caseAttentionBias(c.attentionBias, c.batch, c.heads, c.seq, c.seed);
    const actual = transformerEncoderLayer(x, w as unknown as TransformerEncoderLayerWeights, {
      numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, layerNormEps: 1e-6, normKind: c.normKind,
      keyPaddingMask, isCausal: c.isCausal, attentionBias, scale: c.scale,
    });
    const expected = referenceEncoderLayer(x, w, {
      numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, eps: [1e-6, 1e-6], isCausal: c.isCausal,
      keyPaddingMask, normKind: c.normKind, attentionBias, scale: c.scale,
    });
    expect(actual.shape).toEqual([c.batch, c.seq, embed]);
    const result = closeness(actual.dataSync(), expected.dataSync());
    if (!result.ok) throw new Error(`${JSON.stringify(c)}: ${result.detail}`);
  });
}

/** T5 v1.1's encoder layer: pre-RMSNorm, no biases, gated gelu_tanh, unscaled scores plus the position bias. */
const t5: T5Case = {
  batch: 3, seq: 11, heads: 3, headDim: 5, ffn: 23, normFirst: true, activation: 'gelu_tanh', normKind: 'rms',
  gated: true, biases: false, packed: false, attentionBias: 'shared', padding: 'left', isCausal: false, scale: 1,
  seed: 21,
};

const t5Arbitrary: fc.Arbitrary<T5Case> = fc.record({
  batch: fc.integer({min: 1, max: 4}),
  seq: fc.constantFrom(1, 2, 7, 19, 33),
  heads: fc.constantFrom(1, 2, 3),
  headDim: fc.constantFrom(1, 3, 8),
  ffn: fc.constantFrom(1, 13, 40),
  normFirst: fc.boolean(),
  activation: fc.constantFrom<T5Case['activation']>('gelu', 'gelu_tanh', 'relu'),
  normKind: fc.constantFrom<T5Case['normKind']>('layer', 'rms'),
  gated: fc.boolean(),
  biases: fc.boolean(),
  packed: fc.boolean(),
  attentionBias: fc.constantFrom<T5Case['attentionBias']>('none', 'shared', 'perBatch'),
  padding: fc.constantFrom<T5Case['padding']>('none', 'right', 'left'),
  isCausal: fc.boolean(),
  scale: fc.constantFrom(undefined, 1, 0.37),
  seed: fc.integer({min: 1, max: 1 << 30}),
});

describe.each(['auto', 'composite'] as const)('transformerEncoderLayer T5-class forms (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('T5 v1.1: pre-RMSNorm, gated gelu_tanh, no biases, a shared [1, H, S, S] bias, left padding', () =>
    checkT5Layer(t5));
  it('a per-sequence [B, H, S, S] bias with right padding', () =>
    checkT5Layer({...t5, attentionBias: 'perBatch', padding: 'right', seed: 22}));
  it('the bias with a causal mask and padding', () =>
    checkT5Layer({...t5, isCausal: true, attentionBias: 'perBatch', seed: 23}));
  it('RMSNorm post-norm with biases, ungated, packed QKV', () =>
    checkT5Layer({...t5, normFirst: false, gated: false, biases: true, packed: true, seed: 24}));
  it('LayerNorm without betas or biases (absent = 0)', () =>
    checkT5Layer({...t5, normKind: 'layer', gated: false, attentionBias: 'none', scale: undefined, seed: 25}));
  it('a gated MLP with biases and a LayerNorm', () =>
    checkT5Layer({...t5, normKind: 'layer', biases: true, activation: 'relu', seed: 26}));
  it('no padding mask, one sequence of one token', () => {
    checkT5Layer({...t5, padding: 'none', seed: 27});
    checkT5Layer({...t5, batch: 1, seq: 1, seed: 28});
  });
  it('an empty batch and an empty sequence', () => {
    checkT5Layer({...t5, batch: 0, attentionBias: 'shared', padding: 'none', seed: 29});
    checkT5Layer({...t5, seq: 0, padding: 'none', seed: 30});
  });
  it('random T5-class configurations (fast-check)', () => {
    fc.assert(fc.property(t5Arbitrary, c => checkT5Layer(c)), {numRuns: preference === 'auto' ? 40 : 15, seed: 31});
  });
});
