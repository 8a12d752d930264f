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
 * Encoder–decoder decoders (cross-attention over ragged source masks, T5's
 * per-distance position bias, BART's embedding norm, pre-/post-norm) on random
 * shapes, and reorderCache (beam search) against a gather of the used rows.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  attentionWithKVCache, BetterTransformerArgumentError, createDecoderCache, createKVCache, DecoderCache, reorderCache,
  rmsNorm, rotaryEmbedding, setKernelPreference, transformerDecoderStack,
} from '../src';
import {
  attendReference, decoderReference, disposeDecoder, randomDecoder, randomSeq2Seq, rmsNormReference, rotaryTables,
  rotateReference, Seq2SeqKind, Seq2SeqShape, SourceReference,
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

describe('transformerDecoderStack with cross-attention (encoder–decoder)', () => {
  interface Seq2SeqCase {kind: Seq2SeqKind; shape: Seq2SeqShape; batch: number; source: number; seed: number}

  /** Random shapes: odd sizes, E unrelated to H·D, GQA, B = 1..4, one layer or three. */
  function randomCases(count: number, seed: number): Seq2SeqCase[] {
    const r = rng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    const kinds: Seq2SeqKind[] = ['t5', 'bart', 'whisper', 'blenderbot_small'];
    return Array.from({length: count}, (_, n) => {
      const kvHeads = pick([1, 2, 3]);
      const heads = kvHeads * pick([1, 2]);
      return {
        kind: kinds[n % kinds.length], batch: 1 + Math.floor(r() * 4), source: 1 + Math.floor(r() * 9), seed: seed * 100 + n,
        shape: {embed: pick([7, 13, 16, 21]), heads, kvHeads, headDim: pick([3, 5, 8]), ffn: pick([9, 17]),
          layers: pick([1, 3]), vocab: 19 + n},
      };
    });
  }

  /** Encoder states and a ragged mask per sequence (any pattern, at least one real row). */
  function randomSources(c: Seq2SeqCase): SourceReference[] {
    const r = rng(c.seed + 7);
    return Array.from({length: c.batch}, (_, b) => {
      const mask = Array.from({length: c.source}, () => (r() < 0.7 ? 1 : 0));
      if (b === 0) mask.fill(1);
      mask[Math.floor(r() * c.source)] = 1;
      const states = Array.from({length: c.source}, () => Array.from({length: c.shape.embed}, () => (r() * 2 - 1) * 2));
      return {states, mask};
    });
  }

  /**
   * Prefill (cross caches filled from the encoder states at that step; ragged prompts, one empty) then
   * decoding steps (one sequence idle at a step), each against recomputing the whole sequence in
   * float64. With `fillFirst`, a step of N = 0 fills the cross caches and the prefill reads them.
   */
  function runCase(c: Seq2SeqCase, fillFirst: boolean): void {
    const f = randomSeq2Seq(c.kind, c.shape, c.seed);
    const sources = randomSources(c);
    const r = rng(c.seed + 11);
    const token = () => Math.floor(r() * f.vocab);
    const prompts = Array.from({length: c.batch}, (_, b) => Array.from({length: b === 1 ? 0 : 1 + ((b * 3 + c.seed) % 4)}, token));
    const sequences = prompts.map(p => p.slice());
    const before = tf.memory().numTensors;
    const {layers, kvHeads, headDim} = c.shape;
    let cache: DecoderCache = createDecoderCache(layers, c.batch, kvHeads, 12, headDim, {sourceLength: c.source});
    const masked = sources.some(x => x.mask?.some(v => v === 0));
    if (masked) cache.sourceMask = tf.tensor2d(sources.flatMap(x => x.mask as number[]), [c.batch, c.source], 'int32');
    const encoderStates = tf.tensor3d(sources.flatMap(x => x.states.flat()), [c.batch, c.source, c.shape.embed]);
    const step = (rows: number[][], logitsRows: 'all' | 'last', fill: boolean) => {
      const width = Math.max(0, ...rows.map(x => x.length));
      const ids = tf.tensor2d(rows.flatMap(x => [...x, ...new Array<number>(width - x.length).fill(0)]), [c.batch, width], 'int32');
      const newLengths = tf.tensor1d(rows.map(x => x.length), 'int32');
      const result = transformerDecoderStack(ids, f.weights, f.config, cache,
          {newLengths, logitsRows, ...(fill ? {encoderStates: encoderStates as tf.Tensor3D} : {})});
      expect(result.crossKeyCache).toBeDefined();
      tf.dispose([ids, newLengths, cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
        cache.crossValueCache as tf.Tensor]);
      cache = {...cache, keyCache: result.keyCache, valueCache: result.valueCache, pastLengths: result.lengths,
        crossKeyCache: result.crossKeyCache, crossValueCache: result.crossValueCache};
      const logits = result.logits.arraySync();
      result.logits.dispose();
      return logits;
    };
    const label = `${c.kind} B=${c.batch} S=${c.source} E=${c.shape.embed} H=${c.shape.heads}/${c.shape.kvHeads} D=${c.shape.headDim}`;
    if (fillFirst) {
      const empty = step(prompts.map(() => []), 'last', true) as number[][];
      expect(empty.flat().every(v => v === 0)).toBe(true);
    }
    const prefill = step(prompts, 'all', !fillFirst) as number[][][];
    prompts.forEach((p, b) => {
      const want = decoderReference(f, p, sources[b]);
      p.forEach((_, i) => expectClose(prefill[b][i], want[i], `${label} prefill ${b}/${i}`));
    });
    for (let s = 0; s < 3; s++) {
      const rows = prompts.map((_, b) => (c.batch > 2 && b === 2 && s === 1 ? [] : [token()]));
      const logits = step(rows, 'last', false) as number[][];
      rows.forEach((row, b) => {
        if (row.length === 0) return void expect(logits[b].every(v => v === 0)).toBe(true);
        sequences[b].push(...row);
        const want = decoderReference(f, sequences[b], sources[b]);
        expectClose(logits[b], want[want.length - 1], `${label} step ${s} sequence ${b}`);
      });
    }
    expect(Array.from(cache.pastLengths.dataSync())).toEqual(sequences.map(x => x.length));
    tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
      cache.crossValueCache as tf.Tensor, encoderStates, ...(cache.sourceMask ? [cache.sourceMask] : [])]);
    expect(tf.memory().numTensors).toBe(before);
    disposeDecoder(f);
  }

  test.each(PREFERENCES)('random shapes: prefill and decoding equal recomputing the sequence in float64 (%s)', preference => {
    setKernelPreference(preference);
    for (const c of randomCases(9, 3)) runCase(c, false);
  });

  test.each(PREFERENCES)('a step of N = 0 fills the cross caches; later steps read them (%s)', preference => {
    setKernelPreference(preference);
    for (const c of randomCases(3, 5)) runCase(c, true);
  });

  test('the filled cross caches hold the encoder states\' projections', () => {
    const c: Seq2SeqCase = {kind: 'whisper', batch: 2, source: 3, seed: 41,
      shape: {embed: 6, heads: 4, kvHeads: 2, headDim: 3, ffn: 5, layers: 2, vocab: 11}};
    const f = randomSeq2Seq(c.kind, c.shape, c.seed);
    const sources = randomSources(c);
    const cache = createDecoderCache(2, 2, 2, 4, 3, {sourceLength: 3});
    const states = tf.tensor3d(sources.flatMap(x => x.states.flat()), [2, 3, 6]);
    const ids = tf.zeros([2, 0], 'int32') as tf.Tensor2D;
    const result = transformerDecoderStack(ids, f.weights, f.config, cache, {encoderStates: states});
    const got = [result.crossKeyCache as tf.Tensor, result.crossValueCache as tf.Tensor].map(t => t.arraySync() as number[][][][][]);
    f.weights.layers.forEach((l, layer) => {
      const pairs: Array<[tf.Tensor, tf.Tensor | undefined, number]> = [[l.crossKWeight as tf.Tensor, l.crossKBias, 0],
        [l.crossVWeight as tf.Tensor, l.crossVBias, 1]];
      for (const [w, bias, which] of pairs) {
        const wv = w.arraySync() as number[][], bv = bias ? bias.arraySync() as number[] : null;
        for (let b = 0; b < 2; b++) {
          for (let s = 0; s < 3; s++) {
            const row = Array.from({length: 6}, (_, j) => sources[b].states[s].reduce((sum, x, k) => sum + x * wv[k][j], bv ? bv[j] : 0));
            const cached = [0, 1].flatMap(g => got[which][layer][b][g][s]);
            expectClose(cached, row, `layer ${layer} ${which ? 'value' : 'key'} ${b}/${s}`);
          }
        }
      }
    });
    if (tf.getBackend() === 'cpu') expect(result.crossKeyCache?.dataId).toBe(cache.crossKeyCache?.dataId);
    tf.dispose([ids, states, result.logits, result.keyCache, result.valueCache, result.lengths, result.crossKeyCache as tf.Tensor,
      result.crossValueCache as tf.Tensor, cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
      cache.crossValueCache as tf.Tensor]);
    disposeDecoder(f);
  });

  test('refuses bad encoder-side arguments by name, before writing and without leaking', () => {
    const shape: Seq2SeqShape = {embed: 8, heads: 2, kvHeads: 1, headDim: 4, ffn: 6, layers: 2, vocab: 13};
    const f = randomSeq2Seq('t5', shape, 9);
    const plain = randomDecoder('gpt2', 3);
    const cache = createDecoderCache(2, 2, 1, 6, 4, {sourceLength: 5});
    const states = tf.ones([2, 5, 8]) as tf.Tensor3D;
    const ids = tf.tensor2d([[1], [2]], [2, 1], 'int32');
    const before = tf.memory().numTensors;
    const run = (weights: unknown, config: unknown, c: unknown, options: unknown = {}) =>
      () => transformerDecoderStack(ids, weights as never, config as never, c as never, options as never);
    const layers = f.weights.layers;
    const without = (l: number, key: string) => layers.map((w, i) => (i === l ? {...w, [key]: undefined} : w));
    expect(run({...f.weights, layers: without(1, 'crossVWeight')}, f.config, cache))
        .toThrow(/weights\.layers\[1\]\.crossVWeight is required: weights\.layers\[0\] has cross-attention/);
    expect(run({...f.weights, layers: without(0, 'crossQWeight')}, f.config, cache))
        .toThrow(/weights\.layers\[0\]\.cross\w+ is given but weights\.layers\[0\] has no cross-attention/);
    expect(run({...f.weights, layers: layers.map(w => ({...w, crossKWeight: tf.ones([8, 8])}))}, f.config, cache))
        .toThrow(/weights\.layers\[0\]\.crossKWeight must have shape \[E, Hkv·D\] = \[8, 4\], got \[8, 8\]/);
    expect(run({...f.weights, layers: layers.map(w => ({...w, crossNormBeta: tf.ones([8])}))}, f.config, cache))
        .toThrow(/crossNormBeta: an RMSNorm has no beta/);
    expect(run(f.weights, {...f.config, parallel: true}, cache)).toThrow(/config\.parallel: parallel layers cannot have cross-attention/);
    // T5's decoder has no embedding norm for the positions to follow.
    expect(run(f.weights, {...f.config, embeddingNormBeforePositions: true}, cache))
        .toThrow(/config\.embeddingNormBeforePositions needs an embedding norm/);
    expect(run(f.weights, {...f.config, embeddingNormBeforePositions: 1}, cache)).toThrow(/config\.embeddingNormBeforePositions/);
    expect(run({...f.weights, positionBias: tf.ones([3, 10])}, f.config, cache)).toThrow(/weights\.positionBias must have shape \[H, P\] with H = 2/);
    expect(run({...f.weights, positionBias: tf.ones([2, 3])}, f.config, {...cache, pastLengths: tf.tensor1d([3, 0], 'int32')}))
        .toThrow(/sequence 0 reaches position 3, past the model's 3 positions \(weights\.positionBias\)/);
    expect(run(f.weights, f.config, {...cache, crossKeyCache: undefined})).toThrow(/cache\.crossKeyCache is required/);
    expect(run(f.weights, f.config, {...cache, crossValueCache: tf.zeros([2, 2, 1, 4, 4])}))
        .toThrow(/cache\.crossValueCache must have shape \[layers, B, Hkv, S, D\] = \[2, 2, 1, 5, 4\]/);
    expect(run(f.weights, f.config, {...cache, sourceMask: tf.tensor2d([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0]], [2, 5], 'int32')}))
        .toThrow(/cache\.sourceMask\[1\] has no real source token/);
    expect(run(f.weights, f.config, {...cache, sourceMask: tf.ones([2, 4], 'int32')})).toThrow(/cache\.sourceMask must have shape \[B, S\] = \[2, 5\]/);
    expect(run(f.weights, f.config, {...cache, sourceMask: tf.ones([2, 5])})).toThrow(/cache\.sourceMask must have dtype int32/);
    expect(run(f.weights, f.config, cache, {encoderStates: tf.ones([2, 4, 8])}))
        .toThrow(/options\.encoderStates must have shape \[B, S, E\] = \[2, 5, 8\]/);
    expect(run(f.weights, f.config, cache, {encoderStates: tf.ones([2, 5, 7])})).toThrow(/options\.encoderStates must have shape/);
    expect(run(f.weights, f.config, cache, {encoderStates: tf.ones([1, 5, 8])})).toThrow(/options\.encoderStates must have shape/);
    const plainCache = createDecoderCache(2, 2, 4, 6, 8);
    expect(run(plain.weights, plain.config, {...plainCache, crossKeyCache: cache.crossKeyCache}))
        .toThrow(/cache\.crossKeyCache is given but the model has no cross-attention/);
    expect(run(plain.weights, plain.config, plainCache, {encoderStates: states}))
        .toThrow(/options\.encoderStates is given but the model has no cross-attention/);
    expect(() => createDecoderCache(1, 1, 1, 1, 1, {sourceLength: 0})).toThrow(/cross\.sourceLength must be a positive integer/);
    expect(run(f.weights, f.config, cache, {encoderStates: tf.ones([2, 4, 8])})).toThrow(BetterTransformerArgumentError);
    // The tensors made by the checks above are the test's; the op itself left nothing behind and wrote nothing.
    expect(Array.from(cache.crossKeyCache?.dataSync() ?? []).every(v => v === 0)).toBe(true);
    expect(tf.memory().numTensors).toBeGreaterThanOrEqual(before);
    tf.dispose([states, ids, cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
      cache.crossValueCache as tf.Tensor, plainCache.keyCache, plainCache.valueCache, plainCache.pastLengths]);
    disposeDecoder(f);
    disposeDecoder(plain);
  });

  test('a refused step leaks no tensor', () => {
    const f = randomSeq2Seq('bart', {embed: 8, heads: 2, kvHeads: 2, headDim: 4, ffn: 6, layers: 1, vocab: 13}, 4);
    const cache = createDecoderCache(1, 2, 2, 6, 4, {sourceLength: 3});
    const ids = tf.tensor2d([[1], [2]], [2, 1], 'int32');
    const badMask = tf.tensor2d([[1, 1, 0], [0, 0, 0]], [2, 3], 'int32');
    const badStates = tf.ones([2, 2, 8]) as tf.Tensor3D;
    const before = tf.memory().numTensors;
    expect(() => transformerDecoderStack(ids, f.weights, f.config, {...cache, sourceMask: badMask})).toThrow(/sourceMask\[1\]/);
    expect(() => transformerDecoderStack(ids, f.weights, f.config, cache, {encoderStates: badStates})).toThrow(/encoderStates/);
    expect(() => transformerDecoderStack(tf.tensor2d([[1], [99]], [2, 1], 'int32'), f.weights, f.config, cache))
        .toThrow(/inputIds\[1, 0\] = 99 is outside the vocabulary/);
    expect(tf.memory().numTensors).toBe(before + 1);  // the ids tensor made in the last call
    tf.dispose([ids, badMask, badStates, cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
      cache.crossValueCache as tf.Tensor]);
    disposeDecoder(f);
  });
});

describe('reorderCache', () => {
  /** A cache whose used rows hold distinct values: row b, position p, feature d of layer l. */
  function filledCache(layers: number, batch: number, kvHeads: number, capacity: number, depth: number, lengths: number[]) {
    const values = (offset: number) => {
      const v = new Float32Array(layers * batch * kvHeads * capacity * depth);
      for (let i = 0; i < v.length; i++) v[i] = offset + i;
      return tf.tensor(v, [layers, batch, kvHeads, capacity, depth]);
    };
    return {keyCache: values(0), valueCache: values(0.5), pastLengths: tf.tensor1d(lengths, 'int32')};
  }

  /** The used rows of `cache`'s rows after taking row `rows[b]` for b. */
  function expectReordered(got: DecoderCache, old: {keys: number[][][][][]; values: number[][][][][]; lengths: number[]},
      rows: number[], label: string): void {
    const keys = got.keyCache.arraySync() as number[][][][][], values = got.valueCache.arraySync() as number[][][][][];
    expect(Array.from(got.pastLengths.dataSync())).toEqual(rows.map(r => old.lengths[r]));
    for (let l = 0; l < keys.length; l++) {
      rows.forEach((src, b) => {
        for (let g = 0; g < keys[l][b].length; g++) {
          const used = old.lengths[src];
          expect([label, l, b, g, keys[l][b][g].slice(0, used)]).toEqual([label, l, b, g, old.keys[l][src][g].slice(0, used)]);
          expect([label, l, b, g, values[l][b][g].slice(0, used)]).toEqual([label, l, b, g, old.values[l][src][g].slice(0, used)]);
        }
      });
    }
  }

  test.each(PREFERENCES)('moves the used rows of every layer, repeats and identity included (%s)', preference => {
    setKernelPreference(preference);
    const before = tf.memory().numTensors;
    const cases: Array<[number[], number[], number[]]> = [
      // [layers, B, Hkv, C, D], lengths, sourceRows
      [[2, 4, 3, 5, 3], [5, 0, 2, 4], [3, 3, 0, 1]],
      [[1, 3, 1, 7, 2], [7, 1, 3], [2, 1, 0]],
      [[3, 2, 2, 4, 5], [4, 4], [1, 1]],
      [[2, 1, 2, 3, 3], [2], [0]],
      [[1, 5, 1, 2, 1], [1, 2, 0, 2, 1], [4, 4, 4, 0, 2]],
    ];
    cases.forEach(([shape, lengths, rows], n) => {
      const [layers, batch, kvHeads, capacity, depth] = shape;
      const cache = filledCache(layers, batch, kvHeads, capacity, depth, lengths);
      const old = {keys: cache.keyCache.arraySync() as number[][][][][], values: cache.valueCache.arraySync() as number[][][][][], lengths};
      const sourceRows = tf.tensor1d(rows, 'int32');
      const got = reorderCache(cache, sourceRows);
      expectReordered(got, old, rows, `case ${n}`);
      tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths, sourceRows, got.keyCache, got.valueCache, got.pastLengths]);
    });
    expect(tf.memory().numTensors).toBe(before);
  });

  test('on cpu the caches are reordered in place; a shared cache is copied first', () => {
    if (tf.getBackend() !== 'cpu') return;
    const cache = filledCache(1, 2, 1, 2, 1, [2, 1]);
    const rows = tf.tensor1d([1, 0], 'int32');
    const got = reorderCache(cache, rows);
    expect(got.keyCache.dataId).toBe(cache.keyCache.dataId);
    expect(got.valueCache.dataId).toBe(cache.valueCache.dataId);
    // Used positions: row 0 now holds old row 1's one row (2), row 1 old row 0's two (0, 1).
    const used = (t: tf.Tensor) => {
      const v = t.dataSync();
      return [v[0], v[2], v[3]];
    };
    expect(used(got.keyCache)).toEqual([2, 0, 1]);
    const view = tf.reshape(got.keyCache, [4]);
    const again = reorderCache(got, rows);
    expect(again.keyCache.dataId).not.toBe(got.keyCache.dataId);
    expect(used(view)).toEqual([2, 0, 1]);
    expect(Array.from(again.keyCache.dataSync()).slice(0, 2)).toEqual([0, 1]);
    tf.dispose([cache.keyCache, cache.valueCache, cache.pastLengths, rows, got.keyCache, got.valueCache, got.pastLengths, view,
      again.keyCache, again.valueCache, again.pastLengths]);
  });

  test('reordered beams decode as the sequences they continue; cross caches pass through', () => {
    const shape: Seq2SeqShape = {embed: 10, heads: 4, kvHeads: 2, headDim: 3, ffn: 7, layers: 2, vocab: 17};
    const f = randomSeq2Seq('t5', shape, 21);
    const batch = 3, source = 4;
    const r = rng(5);
    const states = Array.from({length: source}, () => Array.from({length: shape.embed}, () => r() * 2 - 1));
    // Beams of one source: the same encoder rows.
    const encoderStates = tf.tensor3d(new Array(batch).fill(states.flat()).flat(), [batch, source, shape.embed]);
    let cache: DecoderCache = createDecoderCache(2, batch, 2, 8, 3, {sourceLength: source});
    const sequences = [[1, 2], [3], [4, 5, 6]];
    const ids = tf.tensor2d([[1, 2, 0], [3, 0, 0], [4, 5, 6]], [batch, 3], 'int32');
    const newLengths = tf.tensor1d([2, 1, 3], 'int32');
    const first = transformerDecoderStack(ids, f.weights, f.config, cache, {newLengths, encoderStates});
    tf.dispose([ids, newLengths, first.logits, cache.keyCache, cache.valueCache, cache.pastLengths, cache.crossKeyCache as tf.Tensor,
      cache.crossValueCache as tf.Tensor]);
    cache = {keyCache: first.keyCache, valueCache: first.valueCache, pastLengths: first.lengths,
      crossKeyCache: first.crossKeyCache, crossValueCache: first.crossValueCache};
    const rows = tf.tensor1d([2, 0, 2], 'int32');
    const reordered = reorderCache(cache, rows);
    expect(reordered.crossKeyCache).toBe(cache.crossKeyCache);
    tf.dispose([rows, cache.keyCache, cache.valueCache, cache.pastLengths]);
    const next = tf.tensor2d([[7], [8], [9]], [batch, 1], 'int32');
    const step = transformerDecoderStack(next, f.weights, f.config, reordered);
    const logits = step.logits.arraySync() as number[][];
    [[...sequences[2], 7], [...sequences[0], 8], [...sequences[2], 9]].forEach((seq, b) => {
      const want = decoderReference(f, seq, {states});
      expectClose(logits[b], want[want.length - 1], `beam ${b}`);
    });
    tf.dispose([next, encoderStates, reordered.keyCache, reordered.valueCache, reordered.pastLengths, step.logits, step.keyCache,
      step.valueCache, step.lengths, step.crossKeyCache as tf.Tensor, step.crossValueCache as tf.Tensor]);
    disposeDecoder(f);
  });

  test('refuses rows outside the batch and bad shapes by name, before moving anything', () => {
    tf.tidy(() => {
      const cache = filledCache(1, 3, 1, 2, 2, [1, 2, 0]);
      const copy = Array.from(cache.keyCache.dataSync());
      expect(() => reorderCache(cache, tf.tensor1d([0, 3, 1], 'int32'))).toThrow(/reorderCache: sourceRows\[1\] = 3 is outside \[0, B = 3\)/);
      expect(() => reorderCache(cache, tf.tensor1d([0, -1, 1], 'int32'))).toThrow(/sourceRows\[1\] = -1/);
      expect(() => reorderCache(cache, tf.tensor1d([0, 1], 'int32'))).toThrow(/sourceRows must have shape \[B\] = \[3\]/);
      expect(() => reorderCache(cache, tf.tensor1d([0, 1, 2]) as tf.Tensor1D)).toThrow(/sourceRows must have dtype int32/);
      expect(() => reorderCache({...cache, pastLengths: tf.tensor1d([0, 3, 0], 'int32')}, tf.tensor1d([0, 1, 2], 'int32')))
          .toThrow(/cache\.pastLengths\[1\] = 3 is outside \[0, C = 2\]/);
      expect(() => reorderCache({...cache, valueCache: tf.zeros([1, 3, 1, 2, 3])}, tf.tensor1d([0, 1, 2], 'int32')))
          .toThrow(/cache\.valueCache must have the shape of cache\.keyCache/);
      expect(() => reorderCache(null as never, tf.tensor1d([0], 'int32'))).toThrow(BetterTransformerArgumentError);
      expect(Array.from(cache.keyCache.dataSync())).toEqual(copy);
    });
  });
});
