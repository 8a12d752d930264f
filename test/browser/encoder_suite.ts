/**
 * transformerEncoderLayer in the page against the plain-tfjs oracle
 * (test/reference/encoder_reference.ts), with the fused kernel ('auto': the
 * portable TypeScript kernel in a browser) and the composite fallback: the
 * cases of test/encoder_parity.test.ts (post- and pre-norm, every activation,
 * per-LayerNorm eps, packed and separate QKV, no/right/left padding with
 * lengths 0 and 1, causal), the T5-class forms (RMSNorm, gated MLP, no
 * biases, a position bias), an empty batch and an empty sequence, and seeded
 * random configurations, at the Node suites' tolerance.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {setKernelPreference, transformerEncoderLayer, TransformerEncoderLayerWeights} from 'tfjs-better-transformer';
import {caseAttentionBias, randomEncoderWeightsOf, t5Lengths} from '../helpers/encoder_weights';
import {paddingMask, randn, rng} from '../helpers/random';
import {referenceEncoderLayer} from '../reference/encoder_reference';
import {BrowserCase, checkClose, checkShape} from './suite';

interface EncoderCase {
  batch: number; seq: number; heads: number; headDim: number; ffn: number; normFirst: boolean;
  activation: 'gelu' | 'gelu_tanh' | 'relu' | 'silu'; eps: [number, number]; normKind: 'layer' | 'rms';
  gated: boolean; biases: boolean; packed: boolean; attentionBias: 'none' | 'shared' | 'perBatch';
  padding: 'none' | 'right' | 'left'; isCausal: boolean; scale: number | undefined; seed: number;
}

/** Lengths as the Node suites pick them: full, 0 and 1 first (BERT-class), or t5Lengths (T5-class). */
function lengthsOf(c: EncoderCase): number[] {
  if (c.normKind === 'rms' || c.gated) return t5Lengths(c.batch, c.seq, c.seed);
  const r = rng(c.seed);
  return Array.from({length: c.batch}, (_, b) => b === 0 ? c.seq : b === 1 ? 0 : b === 2 ? 1 : Math.floor(r() * (c.seq + 1)));
}

function checkEncoder(c: EncoderCase): void {
  tf.tidy(() => {
    const embed = c.heads * c.headDim;
    const x = randn([c.batch, c.seq, embed], c.seed) as tf.Tensor3D;
    const w = randomEncoderWeightsOf(embed, c.ffn, c.seed, {
      packed: c.packed, gated: c.gated, biases: c.biases, rms: c.normKind === 'rms',
    });
    const keyPaddingMask = c.padding === 'none' ? undefined : paddingMask(lengthsOf(c), c.seq, 'int32', c.padding);
    const attentionBias = caseAttentionBias(c.attentionBias, c.batch, c.heads, c.seq, c.seed);
    const common = {numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, isCausal: c.isCausal,
                    keyPaddingMask, normKind: c.normKind, attentionBias, scale: c.scale};
    const actual = transformerEncoderLayer(x, w as unknown as TransformerEncoderLayerWeights, {...common, layerNormEps: c.eps});
    const expected = referenceEncoderLayer(x, w, {...common, eps: c.eps});
    checkShape(actual, [c.batch, c.seq, embed], JSON.stringify(c));
    checkClose(actual, expected, JSON.stringify(c));
  });
}

/** BERT-class: post-norm LayerNorm, biases, ungated, right padding (test/encoder_parity.test.ts's base). */
const bert: EncoderCase = {
  batch: 4, seq: 9, heads: 2, headDim: 8, ffn: 37, normFirst: false, activation: 'gelu', eps: [1e-12, 1e-12],
  normKind: 'layer', gated: false, biases: true, packed: true, attentionBias: 'none', padding: 'right', isCausal: false,
  scale: undefined, seed: 1,
};

/** T5 v1.1: pre-RMSNorm, no biases, gated gelu_tanh, unscaled scores plus a shared position bias, left padding. */
const t5: EncoderCase = {
  batch: 3, seq: 11, heads: 3, headDim: 5, ffn: 23, normFirst: true, activation: 'gelu_tanh', eps: [1e-6, 1e-6],
  normKind: 'rms', gated: true, biases: false, packed: false, attentionBias: 'shared', padding: 'left', isCausal: false,
  scale: 1, seed: 21,
};

const randomCase: fc.Arbitrary<EncoderCase> = fc.record({
  batch: fc.integer({min: 0, max: 4}),
  seq: fc.constantFrom(1, 2, 5, 17, 33),
  heads: fc.constantFrom(1, 2, 3, 4),
  headDim: fc.constantFrom(1, 3, 8, 16),
  ffn: fc.constantFrom(1, 13, 37, 64),
  normFirst: fc.boolean(),
  activation: fc.constantFrom<EncoderCase['activation']>('gelu', 'gelu_tanh', 'relu', 'silu'),
  eps: fc.constantFrom<[number, number]>([1e-5, 1e-5], [1e-12, 1e-12], [1e-6, 1e-3]),
  normKind: fc.constantFrom<EncoderCase['normKind']>('layer', 'rms'),
  gated: fc.boolean(),
  biases: fc.boolean(),
  packed: fc.boolean(),
  attentionBias: fc.constantFrom<EncoderCase['attentionBias']>('none', 'shared', 'perBatch'),
  padding: fc.constantFrom<EncoderCase['padding']>('none', 'right', 'left'),
  isCausal: fc.boolean(),
  scale: fc.constantFrom(undefined, 1, 0.37),
  seed: fc.integer({min: 1, max: 1 << 30}),
});

export function encoderCases(): BrowserCase[] {
  const cases: BrowserCase[] = [];
  for (const preference of ['auto', 'composite'] as const) {
    const suite = `transformerEncoderLayer (${preference})`;
    const add = (name: string, run: () => void) => cases.push({suite, name, run: () => {
      setKernelPreference(preference);
      try {
        run();
      } finally {
        setKernelPreference('auto');
      }
    }});
    add('post-norm and pre-norm', () => [false, true].forEach(normFirst => checkEncoder({...bert, normFirst})));
    for (const activation of ['gelu', 'gelu_tanh', 'relu', 'silu'] as const) {
      add(`activation ${activation}`, () => checkEncoder({...bert, activation, seed: 2}));
    }
    add('a different eps for each LayerNorm', () => checkEncoder({...bert, eps: [1e-3, 1e-6], seed: 3}));
    add('separate Q, K and V weights', () => checkEncoder({...bert, packed: false, seed: 4}));
    add('no, right and left padding (lengths 0 and 1 included)', () =>
      (['none', 'right', 'left'] as const).forEach(padding => checkEncoder({...bert, padding, seed: 5})));
    add('causal self-attention with left padding (GPT-2-style blocks)', () =>
      checkEncoder({...bert, isCausal: true, normFirst: true, activation: 'gelu_tanh', padding: 'left', seed: 6}));
    add('T5 v1.1: pre-RMSNorm, gated gelu_tanh, no biases, shared [1, H, S, S] bias, left padding', () => checkEncoder(t5));
    add('T5: a per-sequence [B, H, S, S] bias with right padding, and with a causal mask', () => {
      checkEncoder({...t5, attentionBias: 'perBatch', padding: 'right', seed: 22});
      checkEncoder({...t5, isCausal: true, attentionBias: 'perBatch', seed: 23});
    });
    add('RMSNorm post-norm with biases, ungated, packed QKV', () =>
      checkEncoder({...t5, normFirst: false, gated: false, biases: true, packed: true, seed: 24}));
    add('an odd-sized layer: 3 heads of 5, FFN 23, sequence 1 without padding', () =>
      checkEncoder({...t5, batch: 1, seq: 1, padding: 'none', seed: 28}));
    add('an empty batch and an empty sequence', () => {
      checkEncoder({...bert, batch: 0, padding: 'none', seed: 29});
      checkEncoder({...t5, batch: 0, padding: 'none', seed: 29});
      checkEncoder({...t5, seq: 0, padding: 'none', seed: 30});
    });
    const runs = preference === 'auto' ? 30 : 10;
    add(`random configurations (fast-check, ${runs} runs)`, () =>
      fc.assert(fc.property(randomCase, c => checkEncoder(c)), {numRuns: runs, seed: 31}));
  }
  return cases;
}
