/**
 * transformerEncoderStack: parity against a loop of transformerEncoderLayer and
 * against the plain-tfjs oracle (a loop of the unfused reference layer), its
 * gradient, tensor leaks and argument errors. Runs on every jest project.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import {
  activeImplementations, BetterTransformerArgumentError, setKernelPreference, transformerEncoderLayer,
  TransformerEncoderLayerWeights, transformerEncoderStack,
} from '../src';
import {expectedFusedImplementation} from './helpers/backend';
import {
  caseAttentionBias, randomEncoderWeights, randomEncoderWeightsOf, t5Lengths,
} from './helpers/encoder_weights';
import {paddingMask, randn, rng} from './helpers/random';
import {closeness, gradTolerance} from './helpers/tolerance';
import {referenceEncoderLayer} from './reference/encoder_reference';

type Activation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';

interface StackCase {
  batch: number; seq: number; heads: number; headDim: number; layers: number;
  normFirst: boolean; activation: Activation; eps: [number, number];
  padding: 'none' | 'right' | 'left'; maskDtype: 'int32' | 'bool' | 'float32'; isCausal: boolean; seed: number;
}

/** Weights of each layer: FFN widths and the QKV form (packed or separate) differ between layers. */
function stackWeights(c: StackCase): Array<Record<string, tf.Tensor>> {
  const embed = c.heads * c.headDim, r = rng(c.seed + 7);
  return Array.from({length: c.layers}, (_, l) =>
    randomEncoderWeights(embed, 1 + Math.floor(r() * 40), c.seed + 100 * (l + 1), r() < 0.5));
}

function stackMask(c: StackCase): tf.Tensor2D | undefined {
  if (c.padding === 'none') return undefined;
  const r = rng(c.seed);
  // Lengths include 0 and 1 when the batch allows it.
  const lengths = Array.from({length: c.batch}, (_, b) => b === 0 ? c.seq : b === 1 ? 0 : b === 2 ? 1 :
                                                 Math.floor(r() * (c.seq + 1)));
  return paddingMask(lengths, c.seq, c.maskDtype, c.padding) as tf.Tensor2D;
}

function checkStack(c: StackCase): void {
  tf.tidy(() => {
    const embed = c.heads * c.headDim;
    const x = randn([c.batch, c.seq, embed], c.seed) as tf.Tensor3D;
    const layers = stackWeights(c);
    const keyPaddingMask = stackMask(c);
    const options = {
      numHeads: c.heads, normFirst: c.normFirst, activation: c.activation, layerNormEps: c.eps, keyPaddingMask,
      isCausal: c.isCausal,
    };
    const actual = transformerEncoderStack(x, layers as unknown as TransformerEncoderLayerWeights[], options);
    expect(actual.shape).toEqual([c.batch, c.seq, embed]);

    let looped: tf.Tensor3D = x, expected: tf.Tensor = x;
    for (const w of layers) {
      looped = transformerEncoderLayer(looped, w as unknown as TransformerEncoderLayerWeights, options);
      expected = referenceEncoderLayer(expected, w, {...options, eps: c.eps});
    }
    const vsLoop = closeness(actual.dataSync(), looped.dataSync());
    if (!vsLoop.ok) throw new Error(`vs a loop of transformerEncoderLayer, ${JSON.stringify(c)}: ${vsLoop.detail}`);
    // Each LayerNorm renormalises, so float32 error does not grow with depth; the fp32 tolerance holds.
    const vsReference = closeness(actual.dataSync(), expected.dataSync());
    if (!vsReference.ok) throw new Error(`vs the unfused reference, ${JSON.stringify(c)}: ${vsReference.detail}`);
  });
}

const base: StackCase = {
  batch: 4, seq: 9, heads: 2, headDim: 8, layers: 3, normFirst: false, activation: 'gelu', eps: [1e-12, 1e-12],
  padding: 'right', maskDtype: 'int32', isCausal: false, seed: 1,
};

const caseArbitrary: fc.Arbitrary<StackCase> = fc.record({
  batch: fc.integer({min: 1, max: 4}),
  seq: fc.constantFrom(1, 2, 5, 17, 33),
  heads: fc.constantFrom(1, 2, 3, 4),
  headDim: fc.constantFrom(1, 4, 8, 16),
  layers: fc.integer({min: 1, max: 4}),
  normFirst: fc.boolean(),
  activation: fc.constantFrom<Activation>('gelu', 'gelu_tanh', 'relu', 'silu'),
  eps: fc.constantFrom<[number, number]>([1e-5, 1e-5], [1e-12, 1e-12], [1e-6, 1e-3]),
  padding: fc.constantFrom<StackCase['padding']>('none', 'right', 'left'),
  maskDtype: fc.constantFrom<StackCase['maskDtype']>('int32', 'bool', 'float32'),
  isCausal: fc.boolean(),
  seed: fc.integer({min: 1, max: 1 << 30}),
});

describe.each(['auto', 'composite'] as const)('transformerEncoderStack parity (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('uses the expected implementation', () => {
    expect(activeImplementations().transformerEncoderStack)
        .toBe(preference === 'auto' ? expectedFusedImplementation() : 'composite-tfjs-ops');
  });
  it.each([false, true])('normFirst = %s', normFirst => checkStack({...base, normFirst}));
  it.each(['gelu', 'gelu_tanh', 'relu', 'silu'] as const)('activation %s', activation =>
    checkStack({...base, activation, seed: 2}));
  it('one layer, and no padding mask', () => checkStack({...base, layers: 1, padding: 'none', seed: 3}));
  it('causal, pre-norm, left padding with a bool mask', () =>
    checkStack({...base, isCausal: true, normFirst: true, padding: 'left', maskDtype: 'bool', seed: 4}));
  it('an empty batch and an empty sequence', () => {
    checkStack({...base, batch: 0, seed: 5});
    checkStack({...base, seq: 0, padding: 'none', seed: 6});
  });
  it('random configurations (fast-check)', () => {
    fc.assert(fc.property(caseArbitrary, c => checkStack(c)), {numRuns: preference === 'auto' ? 25 : 8, seed: 9});
  });
});

describe('transformerEncoderStack padded rows', () => {
  it('are exactly zero, and real rows do not depend on padded inputs', () => {
    tf.tidy(() => {
      const layers = [1, 2].map(s => randomEncoderWeights(16, 24, s, s === 1)) as unknown as TransformerEncoderLayerWeights[];
      const mask = paddingMask([5, 2], 6);
      const x1 = randn([2, 6, 16], 10) as tf.Tensor3D;
      const noise = tf.mul(randn([2, 6, 16], 11), tf.reshape(tf.cast(tf.equal(mask, 0), 'float32'), [2, 6, 1]));
      const x2 = tf.add(x1, tf.mul(noise, 100)) as tf.Tensor3D;
      const y1 = transformerEncoderStack(x1, layers, {numHeads: 4, keyPaddingMask: mask as tf.Tensor2D});
      const y2 = transformerEncoderStack(x2, layers, {numHeads: 4, keyPaddingMask: mask as tf.Tensor2D});
      expect(closeness(y2.dataSync(), y1.dataSync(), {rtol: 0, atol: 0}).ok).toBe(true);
      const rows = y1.arraySync();
      expect(rows[0][5].every(v => v === 0)).toBe(true);
      expect(rows[1].slice(2).every(row => row.every(v => v === 0))).toBe(true);
      expect(rows[1][1].some(v => v !== 0)).toBe(true);
    });
  });
});

describe('transformerEncoderStack packed-weight caches', () => {
  it('never reuse the pack of a disposed weight for a new one of the same shape', () => {
    // Native kernels cache packed weights across calls; fresh same-shaped weights (which may land
    // at the disposed ones' addresses) must give their own results, checked against the composite.
    const x = randn([2, 6, 16], 1) as tf.Tensor3D;
    for (let seed = 1; seed <= 4; seed++) {
      const layers = [randomEncoderWeights(16, 24, seed, true), randomEncoderWeights(16, 24, seed + 50, false)];
      const fused = transformerEncoderStack(x, layers as unknown as TransformerEncoderLayerWeights[], {numHeads: 2});
      setKernelPreference('composite');
      const composite = transformerEncoderStack(x, layers as unknown as TransformerEncoderLayerWeights[], {numHeads: 2});
      setKernelPreference('auto');
      const result = closeness(fused.dataSync(), composite.dataSync());
      tf.dispose([fused, composite, ...layers.flatMap(w => Object.values(w))]);
      if (!result.ok) throw new Error(`seed ${seed}: ${result.detail}`);
    }
    x.dispose();
  });
});

describe('transformerEncoderStack gradients', () => {
  beforeAll(() => require('@tensorflow/tfjs-layers'));

  it('match those of the unfused reference for x and every weight of every layer', () => {
    tf.tidy(() => {
      const x = randn([3, 5, 8], 1);
      const layers = [randomEncoderWeights(8, 12, 2, true), randomEncoderWeights(8, 6, 3, false)];
      const keyPaddingMask = paddingMask([5, 2, 0], 5);
      const names = layers.map(w => Object.keys(w).sort());
      const flat = [x, ...layers.flatMap((w, l) => names[l].map(n => w[n]))];
      const probe = randn([3, 5, 8], 4);
      const options = {numHeads: 2, normFirst: true, activation: 'gelu_tanh' as const, isCausal: false};
      const unflatten = (xs: tf.Tensor[]) => {
        let i = 1;
        return names.map(layerNames => {
          const w: Record<string, tf.Tensor> = {};
          for (const n of layerNames) w[n] = xs[i++];
          return w;
        });
      };
      const fused = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(transformerEncoderStack(
          xs[0] as tf.Tensor3D, unflatten(xs) as unknown as TransformerEncoderLayerWeights[],
          {...options, keyPaddingMask: keyPaddingMask as tf.Tensor2D}), probe)))(flat);
      const reference = tf.grads((...xs: tf.Tensor[]) => {
        let y = xs[0];
        for (const w of unflatten(xs)) y = referenceEncoderLayer(y, w, {...options, keyPaddingMask, eps: [1e-5, 1e-5]});
        return tf.sum(tf.mul(y, probe));
      })(flat);
      fused.forEach((g, i) => {
        const result = closeness(g.dataSync(), reference[i].dataSync(), gradTolerance(4 * 12));
        if (!result.ok) throw new Error(`gradient ${i}: ${result.detail}`);
      });
    });
  });
});

describe.each(['auto', 'composite'] as const)('transformerEncoderStack leaks (%s)', preference => {
  beforeAll(() => {
    require('@tensorflow/tfjs-layers');
    setKernelPreference(preference);
  });
  afterAll(() => setKernelPreference('auto'));

  it('leaves no tensor behind, forward and backward', () => {
    const layers = [4, 5].map(s => randomEncoderWeights(8, 16, s, s === 4)) as unknown as TransformerEncoderLayerWeights[];
    const x = randn([2, 7, 8], 6) as tf.Tensor3D;
    const keyPaddingMask = paddingMask([7, 3], 7) as tf.Tensor2D;
    const body = () => {
      transformerEncoderStack(x, layers, {numHeads: 2, keyPaddingMask});
      tf.grad(a => tf.sum(transformerEncoderStack(a as tf.Tensor3D, layers, {numHeads: 2, keyPaddingMask})))(x);
    };
    body();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) tf.tidy(body);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('transformerEncoderStack argument errors', () => {
  const x = tf.zeros([2, 5, 8]) as tf.Tensor3D;
  const good = randomEncoderWeights(8, 16, 1, true);
  const stack = (...args: unknown[]) => () => (transformerEncoderStack as (...a: unknown[]) => unknown)(...args);

  it.each([
    ['layers not an array', stack(x, good, {numHeads: 2}), /layers must be a non-empty array of layer weights, got Object/],
    ['no layers', stack(x, [], {numHeads: 2}), /layers must be a non-empty array of layer weights, got an empty array/],
    ['a layer not an object', stack(x, [good, 3], {numHeads: 2}), /layers\[1\] must be an object of tensors, got number/],
    ['a wrong weight shape in layer 1', stack(x, [good, {...good, outWeight: tf.zeros([8, 4])}], {numHeads: 2}),
     /layers\[1\]\.outWeight must have shape \[E, E\] = \[8, 8\], got \[8, 4\]/],
    ['a missing weight', stack(x, [{...good, ln2Gamma: undefined}], {numHeads: 2}), /layers\[0\]\.ln2Gamma is missing/],
    ['an unknown weight key', stack(x, [{...good, extra: good.outBias}], {numHeads: 2}),
     /unknown layers\[0\] weight key 'extra'/],
    ['both QKV forms', stack(x, [{...good, qWeight: tf.zeros([8, 8])}], {numHeads: 2}),
     /layers\[0\] must give the QKV projection either packed .* not both/],
    ['heads not dividing E', stack(x, [good], {numHeads: 3}), /E = 8 must be divisible by options\.numHeads = 3/],
    ['a bad activation', stack(x, [good], {numHeads: 2, activation: 'swish'}), /options\.activation/],
    ['a mask of the wrong shape', stack(x, [good], {numHeads: 2, keyPaddingMask: tf.ones([2, 4], 'int32')}),
     /options\.keyPaddingMask must have shape \[B, S\] = \[2, 5\], got \[2, 4\]/],
    ['x of rank 2', stack(tf.zeros([5, 8]), [good], {numHeads: 2}), /x must have rank 3/],
  ])('rejects %s', (_, call, message) => {
    let error: unknown;
    try {
      call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BetterTransformerArgumentError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/^transformerEncoderStack: /);
  });
});

/** T5-class stacks: RMSNorm, gated MLPs, no biases, one attention bias for every layer. */
interface T5StackCase {
  batch: number; seq: number; heads: number; headDim: number; layers: number; normFirst: boolean;
  normKind: 'layer' | 'rms'; gated: boolean; biases: boolean; attentionBias: 'none' | 'shared' | 'perBatch';
  padding: 'none' | 'right' | 'left'; isCausal: boolean; scale: number | undefined; seed: number;
}

function checkT5Stack(c: T5StackCase): void {
  tf.tidy(() => {
    const embed = c.heads * c.headDim, r = rng(c.seed + 7);
    const x = randn([c.batch, c.seq, embed], c.seed) as tf.Tensor3D;
    const layers = Array.from({length: c.layers}, (_, l) => randomEncoderWeightsOf(
        embed, 1 + Math.floor(r() * 40), c.seed + 100 * (l + 1),
        {packed: r() < 0.5, gated: c.gated, biases: c.biases, rms: c.normKind === 'rms'}));
    const keyPaddingMask = c.padding === 'none' ? undefined :
        paddingMask(t5Lengths(c.batch, c.seq, c.seed), c.seq, 'int32', c.padding);
    const attentionBias = caseAttentionBias(c.attentionBias, c.batch, c.heads, c.seq, c.seed);
    const options = {
      numHeads: c.heads, normFirst: c.normFirst, activation: 'gelu_tanh' as const, layerNormEps: 1e-6,
      normKind: c.normKind, keyPaddingMask, isCausal: c.isCausal, attentionBias, scale: c.scale,
    };
    const actual = transformerEncoderStack(x, layers as unknown as TransformerEncoderLayerWeights[], options);
    expect(actual.shape).toEqual([c.batch, c.seq, embed]);
    let looped: tf.Tensor3D = x, expected: tf.Tensor = x;
    for (const w of layers) {
      looped = transformerEncoderLayer(looped, w as unknown as TransformerEncoderLayerWeights, options);
      expected = referenceEncoderLayer(expected, w, {...options, eps: [1e-6, 1e-6]});
    }
    const vsLoop = closeness(actual.dataSync(), looped.dataSync());
    if (!vsLoop.ok) throw new Error(`vs a loop of transformerEncoderLayer, ${JSON.stringify(c)}: ${vsLoop.detail}`);
    const vsReference = closeness(actual.dataSync(), expected.dataSync());
    if (!vsReference.ok) throw new Error(`vs the unfused reference, ${JSON.stringify(c)}: ${vsReference.detail}`);
  });
}

const t5Stack: T5StackCase = {
  batch: 4, seq: 13, heads: 3, headDim: 4, layers: 3, normFirst: true, normKind: 'rms', gated: true, biases: false,
  attentionBias: 'shared', padding: 'left', isCausal: false, scale: 1, seed: 41,
};

const t5StackArbitrary: fc.Arbitrary<T5StackCase> = fc.record({
  batch: fc.integer({min: 1, max: 5}),
  seq: fc.constantFrom(1, 2, 6, 17, 33),
  heads: fc.constantFrom(1, 2, 3),
  headDim: fc.constantFrom(1, 4, 7),
  layers: fc.integer({min: 1, max: 3}),
  normFirst: fc.boolean(),
  normKind: fc.constantFrom<T5StackCase['normKind']>('layer', 'rms'),
  gated: fc.boolean(),
  biases: fc.boolean(),
  attentionBias: fc.constantFrom<T5StackCase['attentionBias']>('none', 'shared', 'perBatch'),
  padding: fc.constantFrom<T5StackCase['padding']>('none', 'right', 'left'),
  isCausal: fc.boolean(),
  scale: fc.constantFrom(undefined, 1),
  seed: fc.integer({min: 1, max: 1 << 30}),
});

describe.each(['auto', 'composite'] as const)('transformerEncoderStack T5-class forms (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('T5 v1.1: pre-RMSNorm, gated, no biases, one [1, H, S, S] bias for every layer, left padding', () =>
    checkT5Stack(t5Stack));
  it('a [B, H, S, S] bias, right padding', () => checkT5Stack({...t5Stack, attentionBias: 'perBatch', padding: 'right', seed: 42}));
  it('a [B, H, S, S] bias, left padding, causal', () =>
    checkT5Stack({...t5Stack, attentionBias: 'perBatch', isCausal: true, seed: 43}));
  it('post-norm RMSNorm with biases, ungated, no bias', () =>
    checkT5Stack({...t5Stack, normFirst: false, gated: false, biases: true, attentionBias: 'none', seed: 44}));
  it('LayerNorms without betas, no padding mask', () =>
    checkT5Stack({...t5Stack, normKind: 'layer', padding: 'none', scale: undefined, seed: 45}));
  it('an empty batch and an empty sequence', () => {
    checkT5Stack({...t5Stack, batch: 0, padding: 'none', seed: 46});
    checkT5Stack({...t5Stack, seq: 0, padding: 'none', seed: 47});
  });
  it('random T5-class configurations (fast-check)', () => {
    fc.assert(fc.property(t5StackArbitrary, c => checkT5Stack(c)), {numRuns: preference === 'auto' ? 25 : 8, seed: 48});
  });
});

describe.each(['auto', 'composite'] as const)('transformerEncoderStack T5-class padded positions (%s)', preference => {
  beforeAll(() => setKernelPreference(preference));
  afterAll(() => setKernelPreference('auto'));

  it('padded rows are 0, and real rows read neither padded inputs nor the bias at padded positions', () => {
    tf.tidy(() => {
      const layers = [1, 2].map(s => randomEncoderWeightsOf(12, 20, s, {packed: s === 1, gated: true, biases: false, rms: true})) as
          unknown as TransformerEncoderLayerWeights[];
      const mask = paddingMask([7, 4, 1], 7, 'int32', 'left');
      const padded = tf.equal(mask, 0);
      const x1 = randn([3, 7, 12], 10) as tf.Tensor3D;
      const x2 = tf.add(x1, tf.mul(randn([3, 7, 12], 11), tf.reshape(tf.cast(padded, 'float32'), [3, 7, 1]))) as tf.Tensor3D;
      // Bias entries whose query or key is padded: [B, 1, S, 1] or [B, 1, 1, S].
      const touchesPadding = tf.logicalOr(tf.reshape(padded, [3, 1, 7, 1]), tf.reshape(padded, [3, 1, 1, 7]));
      const bias1 = randn([3, 3, 7, 7], 12) as tf.Tensor4D;
      const bias2 = tf.where(touchesPadding, tf.mul(randn([3, 3, 7, 7], 13), 50), bias1) as tf.Tensor4D;
      const options = {numHeads: 3, normFirst: true, normKind: 'rms' as const, scale: 1, keyPaddingMask: mask};
      const y1 = transformerEncoderStack(x1, layers, {...options, attentionBias: bias1});
      const y2 = transformerEncoderStack(x2, layers, {...options, attentionBias: bias2});
      expect(closeness(y2.dataSync(), y1.dataSync(), {rtol: 0, atol: 0}).ok).toBe(true);
      const rows = y1.arraySync();
      expect(rows[1].slice(0, 3).every(row => row.every(v => v === 0))).toBe(true);
      expect(rows[2].slice(0, 6).every(row => row.every(v => v === 0))).toBe(true);
      expect(rows[1][3].some(v => v !== 0)).toBe(true);
    });
  });
});

describe('transformerEncoderStack T5-class gradients', () => {
  beforeAll(() => require('@tensorflow/tfjs-layers'));

  it.each([
    {attentionBias: 'shared' as const, normFirst: true},
    {attentionBias: 'perBatch' as const, normFirst: false},
  ])('match the reference for x, every weight and the attention bias (%j)', cfg => {
    tf.tidy(() => {
      const [batch, seq, heads, embed] = [3, 5, 2, 8];
      const x = randn([batch, seq, embed], 1);
      const layers = [
        randomEncoderWeightsOf(embed, 12, 2, {packed: true, gated: true, biases: false, rms: true}),
        randomEncoderWeightsOf(embed, 6, 3, {packed: false, gated: true, biases: false, rms: true}),
      ];
      const bias = caseAttentionBias(cfg.attentionBias, batch, heads, seq, 5) as tf.Tensor4D;
      const keyPaddingMask = paddingMask([5, 3, 0], seq, 'int32', 'left');
      const names = layers.map(w => Object.keys(w).sort());
      const flat = [x, bias, ...layers.flatMap((w, l) => names[l].map(n => w[n]))];
      const probe = randn([batch, seq, embed], 4);
      const options = {numHeads: heads, normFirst: cfg.normFirst, activation: 'gelu_tanh' as const, normKind: 'rms' as const,
                       scale: 1, isCausal: false};
      const unflatten = (xs: tf.Tensor[]) => {
        let i = 2;
        return names.map(layerNames => {
          const w: Record<string, tf.Tensor> = {};
          for (const n of layerNames) w[n] = xs[i++];
          return w;
        });
      };
      const fused = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul(transformerEncoderStack(
          xs[0] as tf.Tensor3D, unflatten(xs) as unknown as TransformerEncoderLayerWeights[],
          {...options, keyPaddingMask, attentionBias: xs[1] as tf.Tensor4D}), probe)))(flat);
      const reference = tf.grads((...xs: tf.Tensor[]) => {
        let y = xs[0];
        for (const w of unflatten(xs)) {
          y = referenceEncoderLayer(y, w, {...options, keyPaddingMask, attentionBias: xs[1], eps: [1e-5, 1e-5]});
        }
        return tf.sum(tf.mul(y, probe));
      })(flat);
      expect(fused[1].shape).toEqual(bias.shape);
      fused.forEach((g, i) => {
        // The bias gradient sums over both layers and, when shared, over the batch.
        const result = closeness(g.dataSync(), reference[i].dataSync(), gradTolerance(4 * 12));
        if (!result.ok) throw new Error(`gradient ${i}: ${result.detail}`);
      });
    });
  });
});

describe.each(['auto', 'composite'] as const)('transformerEncoderStack T5-class leaks (%s)', preference => {
  beforeAll(() => {
    require('@tensorflow/tfjs-layers');
    setKernelPreference(preference);
  });
  afterAll(() => setKernelPreference('auto'));

  it('leaves no tensor behind, forward and backward, with the attention bias', () => {
    const layers = [4, 5].map(s => randomEncoderWeightsOf(8, 16, s, {packed: s === 4, gated: true, biases: false, rms: true})) as
        unknown as TransformerEncoderLayerWeights[];
    const x = randn([2, 7, 8], 6) as tf.Tensor3D;
    const keyPaddingMask = paddingMask([7, 3], 7, 'int32', 'left') as tf.Tensor2D;
    const attentionBias = randn([1, 2, 7, 7], 7) as tf.Tensor4D;
    const options = {numHeads: 2, normKind: 'rms' as const, normFirst: true, keyPaddingMask, attentionBias};
    const body = () => {
      transformerEncoderStack(x, layers, options);
      transformerEncoderLayer(x, layers[0], options);
      tf.grads((a, b) => tf.sum(transformerEncoderStack(a as tf.Tensor3D, layers, {...options, attentionBias: b as tf.Tensor4D})))(
          [x, attentionBias]);
    };
    body();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 10; i++) tf.tidy(body);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('transformerEncoderStack T5-class argument errors', () => {
  const x = tf.zeros([2, 5, 8]) as tf.Tensor3D;
  const t5 = randomEncoderWeightsOf(8, 16, 1, {packed: false, gated: true, biases: false, rms: true});
  const plain = randomEncoderWeights(8, 16, 1, true);
  const stack = (...args: unknown[]) => () => (transformerEncoderStack as (...a: unknown[]) => unknown)(...args);
  const layer = (...args: unknown[]) => () => (transformerEncoderLayer as (...a: unknown[]) => unknown)(...args);
  const rms = {numHeads: 2, normKind: 'rms'};

  it.each([
    ['an attention bias with H != numHeads', stack(x, [t5], {...rms, attentionBias: tf.zeros([1, 4, 5, 5])}),
     /options\.attentionBias must have H = options\.numHeads = 2 heads .* got \[1, 4, 5, 5\]/],
    ['an attention bias with the wrong query length', stack(x, [t5], {...rms, attentionBias: tf.zeros([1, 2, 4, 5])}),
     /options\.attentionBias must have S = 5 query and key positions .* got \[1, 2, 4, 5\]/],
    ['an attention bias with the wrong key length', stack(x, [t5], {...rms, attentionBias: tf.zeros([2, 2, 5, 6])}),
     /options\.attentionBias must have S = 5 query and key positions .* got \[2, 2, 5, 6\]/],
    ['an attention bias with a batch neither 1 nor B', stack(x, [t5], {...rms, attentionBias: tf.zeros([3, 2, 5, 5])}),
     /options\.attentionBias must have a batch axis of 1 or B = 2 .* got \[3, 2, 5, 5\]/],
    ['an attention bias of rank 3', stack(x, [t5], {...rms, attentionBias: tf.zeros([2, 5, 5])}),
     /options\.attentionBias must have rank 4/],
    ['an int32 attention bias', stack(x, [t5], {...rms, attentionBias: tf.zeros([1, 2, 5, 5], 'int32')}),
     /options\.attentionBias must have dtype float32, got int32/],
    ['an attention bias not a tensor', stack(x, [t5], {...rms, attentionBias: [[1]]}), /options\.attentionBias/],
    ['an unknown normKind', stack(x, [t5], {numHeads: 2, normKind: 'batch'}), /options\.normKind/],
    ['RMSNorm with a beta', stack(x, [t5, {...t5, ln2Beta: tf.zeros([8])}], rms),
     /layers\[1\]\.ln2Beta must be absent with options\.normKind 'rms' \(RMSNorm has no beta\)/],
    ['a gateBias without gateWeight', stack(x, [{...t5, gateWeight: undefined, gateBias: tf.zeros([16])}], rms),
     /layers\[0\]\.gateBias is given without layers\[0\]\.gateWeight/],
    ['a gated layer after an ungated one', stack(x, [plain, {...plain, gateWeight: tf.zeros([8, 16])}], {numHeads: 2}),
     /layers\[1\]\.gateWeight is given but layers\[0\] has none: every layer's MLP must be gated .* or none/],
    ['an ungated layer after a gated one', stack(x, [t5, {...t5, gateWeight: undefined, gateBias: undefined}], rms),
     /layers\[1\] has no gateWeight but layers\[0\] has one/],
    ['a gateWeight of the wrong width', stack(x, [{...t5, gateWeight: tf.zeros([8, 15])}], rms),
     /layers\[0\]\.gateWeight must have shape \[E, F\] \(F from ffnInWeight\) = \[8, 16\], got \[8, 15\]/],
    ['a gateBias of the wrong length', stack(x, [{...t5, gateBias: tf.zeros([8])}], rms),
     /layers\[0\]\.gateBias must have shape \[F\] = \[16\], got \[8\]/],
    ['a missing gamma', stack(x, [{...t5, ln1Gamma: undefined}], rms), /layers\[0\]\.ln1Gamma is missing/],
  ])('rejects %s', (_, call, message) => {
    let error: unknown;
    try {
      call();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BetterTransformerArgumentError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toMatch(/^transformerEncoderStack: /);
  });

  it.each([
    ['an attention bias with H != numHeads', layer(x, t5, {...rms, attentionBias: tf.zeros([2, 1, 5, 5])}),
     /options\.attentionBias must have H = options\.numHeads = 2 heads/],
    ['RMSNorm with a beta', layer(x, {...t5, ln1Beta: tf.zeros([8])}, rms), /weights\.ln1Beta must be absent/],
    ['a gateBias without gateWeight', layer(x, {...plain, gateBias: tf.zeros([16])}, {numHeads: 2}),
     /weights\.gateBias is given without weights\.gateWeight/],
  ])('transformerEncoderLayer rejects %s', (_, call, message) => {
    expect(call).toThrow(BetterTransformerArgumentError);
    expect(call).toThrow(message);
    expect(call).toThrow(/^transformerEncoderLayer: /);
  });
});
