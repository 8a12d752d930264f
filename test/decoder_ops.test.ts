/**
 * The decoding ops — rmsNorm, rotaryEmbedding, attentionWithKVCache,
 * transformerDecoderStack — on the backend this project runs (native `cpu`,
 * portable `cpu`, `tensorflow`) and as the composite of tfjs ops, against the
 * double-precision references of helpers/decoder_reference.ts: random shapes,
 * ragged batches (different prompt lengths, sequences with no new token), GQA,
 * both rotary pairings, pre-/post-norm and parallel layers, plain and gated
 * MLPs; prefill then step-by-step decoding against recomputing the whole
 * sequence. Caches are appended in place and the past is never copied on
 * `cpu`; bad input is refused before anything is written; nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  attentionWithKVCache, BetterTransformerArgumentError, createDecoderCache, createKVCache, rmsNorm, rotaryEmbedding,
  setKernelPreference, transformerDecoderStack,
} from '../src';
import {
  attendReference, decoderReference, disposeDecoder, randomDecoder, rmsNormReference, rotaryTables, rotateReference,
} from './helpers/decoder_reference';
import {rng} from './helpers/random';
import {closeness, FP32, Tolerance} from './helpers/tolerance';

afterEach(() => setKernelPreference('auto'));

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, tol: Tolerance = FP32): void {
  const c = closeness(actual, expected, tol);
  if (!c.ok) throw new Error(`${label}: ${c.detail}`);
}

const PREFERENCES = ['auto', 'composite'] as const;

describe('rmsNorm', () => {
  test.each(PREFERENCES)('matches the reference on odd and empty shapes (%s)', preference => {
    setKernelPreference(preference);
    for (const [rows, width] of [[1, 1], [3, 5], [7, 33], [0, 8], [2, 768]]) {
      tf.tidy(() => {
        const x = tf.randomNormal([rows, width], 0.5, 2, 'float32', rows + width);
        const gamma = tf.randomNormal([width], 1, 0.3, 'float32', width) as tf.Tensor1D;
        const got = rmsNorm(x, gamma, {epsilon: 1e-6});
        expect(got.shape).toEqual([rows, width]);
        expectClose(got.dataSync(), rmsNormReference(x.dataSync(), width, gamma.dataSync(), 1e-6), `[${rows}, ${width}]`);
      });
    }
  });

  test('its gradient is the formula\'s', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([3, 9], 0, 1, 'float32', 1), gamma = tf.randomNormal([9], 1, 0.2, 'float32', 2);
      const dy = tf.randomNormal([3, 9], 0, 1, 'float32', 3);
      const ours = tf.grads((a, g) => rmsNorm(a, g as tf.Tensor1D))([x, gamma], dy);
      const want = tf.grads((a, g) => tf.mul(tf.mul(a, tf.rsqrt(tf.add(tf.mean(tf.square(a), -1, true), 1e-6))), g))([x, gamma], dy);
      ours.forEach((g, i) => expectClose(g.dataSync(), want[i].dataSync(), `gradient ${i}`, {rtol: 1e-5, atol: 1e-4}));
    });
  });

  test('refuses bad arguments by name', () => {
    tf.tidy(() => {
      expect(() => rmsNorm(tf.ones([2, 3]), tf.ones([4]) as tf.Tensor1D)).toThrow(/rmsNorm: gamma must have shape/);
      expect(() => rmsNorm(tf.ones([2, 3]), tf.ones([3]) as tf.Tensor1D, {epsilon: -1})).toThrow(BetterTransformerArgumentError);
      expect(() => rmsNorm(tf.ones([2, 3], 'int32'), tf.ones([3]) as tf.Tensor1D)).toThrow(/x must have dtype float32/);
    });
  });
});

describe('rotaryEmbedding', () => {
  test.each(PREFERENCES)('matches the reference for both pairings and partial rotation (%s)', preference => {
    setKernelPreference(preference);
    const cases: Array<[number[], number, boolean]> = [
      [[2, 3, 5, 8], 8, false], [[2, 3, 5, 8], 4, true], [[1, 2, 4, 64], 64, false], [[1, 2, 4, 80], 32, true],
      [[0, 2, 3, 8], 8, false], [[2, 1, 0, 8], 8, true],
    ];
    cases.forEach(([shape, rotaryDim, interleaved], n) => tf.tidy(() => {
      const [batch, heads, seq, depth] = shape as [number, number, number, number];
      const rows = 40;
      const {cos, sin} = rotaryTables(rows, rotaryDim);
      const r = rng(n + 1);
      const positions = tf.tensor2d(Array.from({length: batch * seq}, () => Math.floor(r() * rows)), [batch, seq], 'int32');
      const x = tf.randomNormal(shape as [number, number, number, number], 0, 1, 'float32', n) as tf.Tensor4D;
      const got = rotaryEmbedding(x, positions, cos, sin, {interleaved});
      const xs = x.dataSync(), ps = positions.dataSync(), cv = cos.dataSync(), sv = sin.dataSync();
      const want: number[] = [];
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < heads; h++) {
          for (let t = 0; t < seq; t++) {
            const base = ((b * heads + h) * seq + t) * depth;
            want.push(...rotateReference(Array.from(xs.slice(base, base + depth)), ps[b * seq + t], cv, sv, rotaryDim, interleaved));
          }
        }
      }
      expectClose(got.dataSync(), want, `case ${n}`);
    }));
  });

  test('refuses positions outside the tables and a rotaryDim above D', () => {
    tf.tidy(() => {
      const {cos, sin} = rotaryTables(4, 8);
      const x = tf.ones([1, 1, 2, 8]) as tf.Tensor4D;
      expect(() => rotaryEmbedding(x, tf.tensor2d([[0, 4]], [1, 2], 'int32'), cos, sin))
          .toThrow(/rotaryEmbedding: positions holds 4 at index 1/);
      expect(() => rotaryEmbedding(tf.ones([1, 1, 2, 6]) as tf.Tensor4D, tf.zeros([1, 2], 'int32') as tf.Tensor2D, cos, sin))
          .toThrow(/exceeds the head dimension/);
      expect(() => rotaryEmbedding(x, tf.zeros([1, 2]) as tf.Tensor2D, cos, sin)).toThrow(/positions must have dtype int32/);
    });
  });
});

describe('attentionWithKVCache', () => {
  interface History {keys: number[][][][]; values: number[][][][]}  // [b][g][row][feature]

  test.each(PREFERENCES)('step by step equals attention over everything so far: ragged lengths, GQA (%s)', preference => {
    setKernelPreference(preference);
    const configs = [
      {batch: 3, heads: 4, kvHeads: 2, depth: 8, valueDepth: 8, capacity: 30, steps: [5, 1, 1, 3, 1]},
      {batch: 2, heads: 6, kvHeads: 6, depth: 16, valueDepth: 12, capacity: 100, steps: [70, 1, 2]},
      {batch: 1, heads: 8, kvHeads: 1, depth: 8, valueDepth: 8, capacity: 9, steps: [4, 4, 1]},
    ];
    const before = tf.memory().numTensors;
    configs.forEach((cfg, n) => {
      let cache = createKVCache(cfg.batch, cfg.kvHeads, cfg.capacity, cfg.depth, cfg.valueDepth);
      const history: History = {
        keys: Array.from({length: cfg.batch}, () => Array.from({length: cfg.kvHeads}, () => [])),
        values: Array.from({length: cfg.batch}, () => Array.from({length: cfg.kvHeads}, () => [])),
      };
      const past = new Array<number>(cfg.batch).fill(0);
      cfg.steps.forEach((newTokens, step) => {
        const fresh = Array.from({length: cfg.batch}, (_, b) => (b % 3 === 2 ? Math.floor(newTokens / 2) : newTokens));
        const q = tf.randomNormal([cfg.batch, cfg.heads, newTokens, cfg.depth], 0, 1, 'float32', 10 * n + step) as tf.Tensor4D;
        const k = tf.randomNormal([cfg.batch, cfg.kvHeads, newTokens, cfg.depth], 0, 1, 'float32', 20 * n + step) as tf.Tensor4D;
        const v = tf.randomNormal([cfg.batch, cfg.kvHeads, newTokens, cfg.valueDepth], 0, 1, 'float32', 30 * n + step) as tf.Tensor4D;
        const newLengths = tf.tensor1d(fresh, 'int32');
        const result = attentionWithKVCache(q, k, v, cache, {newLengths});
        const qs = q.dataSync(), ks = k.dataSync(), vs = v.dataSync();
        const want: number[] = [];
        for (let b = 0; b < cfg.batch; b++) {
          for (let g = 0; g < cfg.kvHeads; g++) {
            for (let i = 0; i < fresh[b]; i++) {
              const kb = ((b * cfg.kvHeads + g) * newTokens + i);
              history.keys[b][g].push(Array.from(ks.slice(kb * cfg.depth, (kb + 1) * cfg.depth)));
              history.values[b][g].push(Array.from(vs.slice(kb * cfg.valueDepth, (kb + 1) * cfg.valueDepth)));
            }
          }
          for (let h = 0; h < cfg.heads; h++) {
            const g = Math.floor(h / (cfg.heads / cfg.kvHeads));
            for (let i = 0; i < newTokens; i++) {
              if (i >= fresh[b]) {
                want.push(...new Array<number>(cfg.valueDepth).fill(0));
                continue;
              }
              const qb = ((b * cfg.heads + h) * newTokens + i) * cfg.depth;
              want.push(...attendReference(qs.slice(qb, qb + cfg.depth), history.keys[b][g], history.values[b][g],
                  past[b] + i + 1, 1 / Math.sqrt(cfg.depth)));
            }
          }
          past[b] += fresh[b];
        }
        expectClose(result.out.dataSync(), want, `config ${n} step ${step}`);
        expect(Array.from(result.lengths.dataSync())).toEqual(past);
        // The cached rows are the keys appended so far.
        const cached = result.keyCache.arraySync() as number[][][][];
        for (let b = 0; b < cfg.batch; b++) {
          for (let g = 0; g < cfg.kvHeads; g++) {
            expectClose(cached[b][g].slice(0, past[b]).flat(), history.keys[b][g].flat(), `cache ${n}/${step}/${b}/${g}`);
          }
        }
        tf.dispose([q, k, v, newLengths, result.out, cache.keyCache, cache.valueCache, cache.pastLengths]);
        cache = {keyCache: result.keyCache, valueCache: result.valueCache, pastLengths: result.lengths};
      });
      tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('on cpu the caches are written in place: the result shares the cache\'s data (no copy per step)', () => {
    if (tf.getBackend() !== 'cpu') return;
    const cache = createKVCache(1, 1, 4, 2);
    const result = attentionWithKVCache(tf.ones([1, 1, 1, 2]), tf.ones([1, 1, 1, 2]), tf.ones([1, 1, 1, 2]), cache);
    expect(result.keyCache.dataId).toBe(cache.keyCache.dataId);
    expect(result.valueCache.dataId).toBe(cache.valueCache.dataId);
    // A cache whose data is shared (a reshape) is copied first: the other tensor keeps its values.
    const view = tf.reshape(result.keyCache, [4, 2]);
    const next = attentionWithKVCache(tf.ones([1, 1, 1, 2]), tf.fill([1, 1, 1, 2], 7), tf.ones([1, 1, 1, 2]),
        {keyCache: result.keyCache, valueCache: result.valueCache, pastLengths: result.lengths});
    expect(next.keyCache.dataId).not.toBe(result.keyCache.dataId);
    expect(Array.from(view.dataSync())).toEqual([1, 1, 0, 0, 0, 0, 0, 0]);
    expect(Array.from(next.keyCache.dataSync())).toEqual([1, 1, 7, 7, 0, 0, 0, 0]);
    tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths, result.out, result.keyCache, result.valueCache,
      result.lengths, view, next.out, next.keyCache, next.valueCache, next.lengths]);
  });

  test('refuses a capacity overflow, bad lengths and shapes before writing, naming them', () => {
    tf.tidy(() => {
      const cache = createKVCache(2, 1, 3, 4);
      const q = tf.ones([2, 2, 2, 4]) as tf.Tensor4D, k = tf.ones([2, 1, 2, 4]) as tf.Tensor4D;
      const full = {...cache, pastLengths: tf.tensor1d([0, 2], 'int32')};
      expect(() => attentionWithKVCache(q, k, k, full)).toThrow(
          /attentionWithKVCache: sequence 1 would hold pastLengths\[1\] \+ newLengths\[1\] = 2 \+ 2 = 4 rows, more than the cache capacity C = 3/);
      expect(Array.from(cache.keyCache.dataSync()).every(value => value === 0)).toBe(true);
      expect(() => attentionWithKVCache(q, k, k, cache, {newLengths: tf.tensor1d([3, 0], 'int32')}))
          .toThrow(/newLengths\[0\] = 3 is outside \[0, N = 2\]/);
      expect(() => attentionWithKVCache(q, k, k, {...cache, pastLengths: tf.tensor1d([-1, 0], 'int32')})).toThrow(/pastLengths\[0\] = -1 is negative/);
      expect(() => attentionWithKVCache(q, tf.ones([2, 3, 2, 4]) as tf.Tensor4D, k, cache)).toThrow(/multiple of the key\/value heads/);
      expect(() => attentionWithKVCache(q, k, k, {...cache, pastLengths: tf.zeros([2])} as never)).toThrow(/pastLengths must have dtype int32/);
      expect(() => attentionWithKVCache(q, k, k, null as never)).toThrow(BetterTransformerArgumentError);
    });
  });
});

describe('transformerDecoderStack', () => {
  const FAMILIES = ['gpt2', 'opt', 'opt-post-norm', 'gptj', 'neox', 'llama'] as const;

  /** Prefill prompts of different lengths ('all' logits), then decode steps ('last'), against recomputation. */
  function runFamily(family: typeof FAMILIES[number], precision: 'float32' | 'bfloat16', tol: Tolerance): void {
    const f = randomDecoder(family, FAMILIES.indexOf(family) + 1);
    const r = rng(99);
    const token = () => Math.floor(r() * f.vocab);
    const prompts = [[token(), token(), token(), token(), token()], [token()], [token(), token(), token()]];
    const batch = prompts.length, capacity = 16;
    const kvHeads = f.config.numKvHeads ?? f.config.numHeads;
    const layer0 = f.weights.layers[0];
    const headDim = layer0.qkvWeight ? (layer0.qkvWeight.shape[1] as number) / (f.config.numHeads + 2 * kvHeads)
      : ((layer0.qWeight as tf.Tensor).shape[1] as number) / f.config.numHeads;
    let cache = createDecoderCache(f.weights.layers.length, batch, kvHeads, capacity, headDim);
    const before = tf.memory().numTensors;
    const sequences = prompts.map(p => p.slice());
    const longest = 5;
    const step = (rows: number[][], fresh: number[], logitsRows: 'all' | 'last') => {
      const width = Math.max(1, ...rows.map(x => x.length));
      const ids = tf.tensor2d(rows.flatMap(x => [...x, ...new Array<number>(width - x.length).fill(-5)]), [batch, width], 'int32');
      const newLengths = tf.tensor1d(fresh, 'int32');
      const result = transformerDecoderStack(ids, f.weights, f.config, cache, {newLengths, logitsRows, weightPrecision: precision});
      tf.dispose([ids, newLengths, cache.keyCache, cache.valueCache, cache.pastLengths]);
      cache = {keyCache: result.keyCache, valueCache: result.valueCache, pastLengths: result.lengths};
      const logits = result.logits.arraySync();
      result.logits.dispose();
      return logits;
    };
    const prefill = step(prompts, prompts.map(p => p.length), 'all') as number[][][];
    expect(prefill.length).toBe(batch);
    prompts.forEach((p, b) => {
      const want = decoderReference(f, p);
      for (let i = 0; i < longest; i++) {
        if (i < p.length) expectClose(prefill[b][i], want[i], `${family} prefill ${b}/${i}`, tol);
        else expect(prefill[b][i].every(v => v === 0)).toBe(true);
      }
    });
    for (let s = 0; s < 5; s++) {
      const fresh = prompts.map((_, b) => (b === 1 && s === 2 ? 0 : 1));
      const rows = fresh.map(n => (n === 0 ? [] : [token()]));
      const logits = step(rows, fresh, 'last') as number[][];
      rows.forEach((row, b) => {
        if (row.length === 0) {
          expect(logits[b].every(v => v === 0)).toBe(true);
          return;
        }
        sequences[b].push(...row);
        const want = decoderReference(f, sequences[b]);
        expectClose(logits[b], want[want.length - 1], `${family} step ${s} sequence ${b}`, tol);
      });
    }
    expect(Array.from(cache.pastLengths.dataSync())).toEqual(sequences.map(x => x.length));
    tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths]);
    expect(tf.memory().numTensors).toBe(before - 3);
    disposeDecoder(f);
  }

  for (const family of FAMILIES) {
    test.each(PREFERENCES)(`${family}: prefill and decoding equal recomputing the sequence (%s)`, preference => {
      setKernelPreference(preference);
      runFamily(family, 'float32', {rtol: 2e-5, atol: 2e-5});
    });
  }

  test.each(FAMILIES)('%s with bfloat16 weights stays within 1e-2 of the float32 reference', family => {
    // Native `cpu` rounds the weights (and, with AVX512-BF16, the activations) to bfloat16; the rest compute in float32.
    runFamily(family, 'bfloat16', {rtol: 1e-2, atol: 1e-2});
  });

  test('refuses ids outside the vocabulary, positions past the model and capacity overflows before writing', () => {
    const f = randomDecoder('gpt2', 7);
    const cache = createDecoderCache(2, 1, 4, 20, 8);
    const run = (ids: number[], past: number, options = {}) => tf.tidy(() => void transformerDecoderStack(
        tf.tensor2d(ids, [1, ids.length], 'int32'), f.weights, f.config,
        {...cache, pastLengths: tf.tensor1d([past], 'int32')}, options));
    expect(() => run([1, f.vocab], 0)).toThrow(/transformerDecoderStack: inputIds\[0, 1\] = \d+ is outside the vocabulary/);
    expect(() => run([1, -1], 0)).toThrow(/inputIds\[0, 1\] = -1/);
    expect(() => run([1, 2], 19)).toThrow(/more than the cache capacity C = 20/);
    const big = createDecoderCache(2, 1, 4, 100, 8);
    expect(() => tf.tidy(() => void transformerDecoderStack(tf.tensor2d([[1]], [1, 1], 'int32'), f.weights, f.config,
        {...big, pastLengths: tf.tensor1d([48], 'int32')}))).toThrow(/reaches position 48, past the model's 48 positions/);
    expect(() => run([1], 0, {logitsRows: 'first'})).toThrow(/options.logitsRows must be one of/);
    expect(() => tf.tidy(() => void transformerDecoderStack(tf.tensor2d([[1]], [1, 1], 'int32'), f.weights,
        {...f.config, numHeads: 3, numKvHeads: 3}, cache))).toThrow(/cannot derive the head size D/);
    expect(Array.from(cache.keyCache.dataSync()).every(v => v === 0)).toBe(true);
    tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths, big.keyCache, big.valueCache, big.pastLengths]);
    disposeDecoder(f);
  });
});
