/**
 * The ops the rewriting pass emits around the fused blocks, as ordinary ops:
 * layerNorm and embeddingSum (fused on `cpu` and `tensorflow`, composite elsewhere) and
 * attentionScoresShape (composite everywhere). Each implementation against an
 * independent reference written here in tfjs ops, over random shapes
 * including empty ones; gradients against tfjs' differentiation of that
 * reference; argument errors.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import {activeImplementations, BetterTransformerArgumentError, embeddingSum, layerNorm, setKernelPreference} from '../src';
import {attentionScoresShape} from '../src/ops/attention_scores_shape';
import {relativePositionBias} from '../src/ops/relative_position_bias';
import {implementationOf} from '../src/dispatch/implementation';
import {expectedGraphOpImplementation, expectedPortableImplementation} from './helpers/backend';
import {closeness, FP32, Tolerance} from './helpers/tolerance';


function referenceLayerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  const mean = tf.mean(x, -1, true);
  const centred = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centred), -1, true);
  return tf.add(tf.mul(tf.mul(centred, tf.rsqrt(tf.add(variance, eps))), gamma), beta);
}

/** Gradients sum many products (LayerNorm's couple every element of a row): a looser absolute term. */
const GRADIENT: Tolerance = {rtol: 1e-5, atol: 1e-4};

function expectClose(actual: tf.Tensor, expected: tf.Tensor, label: string, tol: Tolerance = FP32): void {
  expect(actual.shape).toEqual(expected.shape);
  const c = closeness(actual.dataSync(), expected.dataSync(), tol);
  if (!c.ok) throw new Error(`${label}: ${c.detail}`);
}

afterEach(() => setKernelPreference('auto'));

describe('layerNorm', () => {
  test('reports its implementation: the portable kernel on cpu, the op library on tensorflow, the composite elsewhere', () => {
    expect(activeImplementations().layerNorm).toBe(expectedGraphOpImplementation());
  });

  test.each(['auto', 'composite'] as const)('matches the reference on odd and wide rows, far from zero, and empty tensors (%s)', preference => {
    setKernelPreference(preference);
    const shapes = [[1, 1], [3, 5], [7, 33], [0, 8], [2, 0, 16], [2, 768], [5, 1023], [3, 2, 129]];
    for (const [i, shape] of shapes.entries()) {
      tf.tidy(() => {
        const width = shape[shape.length - 1];
        const x = tf.randomNormal(shape, i % 2 ? 40 : 0, 3, 'float32', i);
        const gamma = tf.randomNormal([width], 1, 0.5, 'float32', i + 10) as tf.Tensor1D;
        const beta = tf.randomNormal([width], 0, 0.5, 'float32', i + 20) as tf.Tensor1D;
        expectClose(layerNorm(x, gamma, beta, {epsilon: 1e-5}), referenceLayerNorm(x, gamma, beta, 1e-5), `x ${shape}`);
      });
    }
  });

  test.each(['auto', 'composite'] as const)('matches the reference on random shapes (%s)', preference => {
    setKernelPreference(preference);
    fc.assert(fc.property(
        fc.array(fc.integer({min: 0, max: 5}), {minLength: 0, maxLength: 3}), fc.integer({min: 1, max: 40}),
        fc.constantFrom(0, 1e-12, 1e-5, 0.1), fc.integer({min: 0, max: 1000}),
        (lead, width, eps, seed) => tf.tidy(() => {
          const x = tf.randomNormal([...lead, width], 3, 2, 'float32', seed);
          const gamma = tf.randomNormal([width], 1, 0.5, 'float32', seed + 1) as tf.Tensor1D;
          const beta = tf.randomNormal([width], 0, 0.5, 'float32', seed + 2) as tf.Tensor1D;
          expectClose(layerNorm(x, gamma, beta, {epsilon: eps}), referenceLayerNorm(x, gamma, beta, eps), `x ${x.shape}`);
        })), {numRuns: 40, seed: 3});
  });

  test('its gradient is the reference formula\'s', () => {
    tf.tidy(() => {
      const x = tf.randomNormal([2, 3, 7], 0, 1, 'float32', 1);
      const gamma = tf.randomNormal([7], 1, 0.3, 'float32', 2);
      const beta = tf.randomNormal([7], 0, 0.3, 'float32', 3);
      const dy = tf.randomNormal([2, 3, 7], 0, 1, 'float32', 4);
      const ours = tf.grads((a, g, b) => layerNorm(a, g as tf.Tensor1D, b as tf.Tensor1D, {epsilon: 1e-5}))([x, gamma, beta], dy);
      const want = tf.grads((a, g, b) => referenceLayerNorm(a, g, b, 1e-5))([x, gamma, beta], dy);
      ours.forEach((g, i) => expectClose(g, want[i], `gradient ${i}`, GRADIENT));
    });
  });

  test('bad arguments are clear errors', () => {
    const x = tf.ones([2, 4]);
    const v4 = tf.ones([4]) as tf.Tensor1D;
    expect(() => layerNorm(x, tf.ones([3]) as tf.Tensor1D, v4)).toThrow(/layerNorm: gamma must have shape \[W\] = \[4\]/);
    expect(() => layerNorm(tf.ones([2, 4], 'int32'), v4, v4)).toThrow(/layerNorm: x must have dtype float32/);
    expect(() => layerNorm(tf.ones([2, 0]), tf.ones([0]) as tf.Tensor1D, tf.ones([0]) as tf.Tensor1D)).toThrow(/last axis/);
    expect(() => layerNorm(x, v4, v4, {epsilon: -1})).toThrow(/options.epsilon must not be negative/);
    expect(() => layerNorm(x, v4, v4, {epsilon: Infinity})).toThrow(/options.epsilon must be a finite number/);
    expect(() => layerNorm(x, v4, v4, {eps: 1} as never)).toThrow(BetterTransformerArgumentError);
    tf.dispose([x, v4]);
  });
});

interface SumCase {
  width: number;
  rows: number[];
  shapes: number[][];
  constants: number[][];
  norm: boolean;
  seed: number;
}

const sumCases: fc.Arbitrary<SumCase> = fc.record({
  batch: fc.integer({min: 0, max: 3}),
  seq: fc.integer({min: 1, max: 6}),
  width: fc.integer({min: 1, max: 17}),
  terms: fc.array(fc.record({rows: fc.integer({min: 1, max: 9}), broadcast: fc.constantFrom('full', 'row', 'column')}),
      {minLength: 1, maxLength: 3}),
  constant: fc.boolean(),
  norm: fc.boolean(),
  seed: fc.integer({min: 0, max: 1000}),
}).map(({batch, seq, width, terms, constant, norm, seed}) => ({
  width, norm, seed, rows: terms.map(t => t.rows),
  shapes: terms.map(t => t.broadcast === 'full' ? [batch, seq] : t.broadcast === 'row' ? [1, seq] : [batch, 1]),
  constants: constant ? [[1, seq, width]] : [],
}));

function runSumCase(c: SumCase, preference: 'auto' | 'composite'): void {
  setKernelPreference(preference);
  tf.tidy(() => {
    const tables = c.rows.map((rows, i) => tf.randomNormal([rows, c.width], 0, 1, 'float32', c.seed + i));
    const indices = c.shapes.map((shape, i) => tf.randomUniform(shape, 0, c.rows[i], 'int32', c.seed + 10 + i));
    const constants = c.constants.map((shape, i) => tf.randomNormal(shape, 0, 1, 'float32', c.seed + 20 + i));
    const gamma = tf.randomNormal([c.width], 1, 0.3, 'float32', c.seed + 30) as tf.Tensor1D;
    const beta = tf.randomNormal([c.width], 0, 0.3, 'float32', c.seed + 31) as tf.Tensor1D;
    let want = tf.gather(tables[0], indices[0]);
    for (let i = 1; i < tables.length; i++) want = tf.add(want, tf.gather(tables[i], indices[i]));
    for (const k of constants) want = tf.add(want, k);
    if (c.norm) want = referenceLayerNorm(want, gamma, beta, 1e-5);
    const got = embeddingSum([
      ...tables.map((table, i) => ({table, indices: indices[i]})), ...constants.map(table => ({table})),
    ], c.norm ? {gamma, beta, epsilon: 1e-5} : {});
    expectClose(got, want, JSON.stringify(c));
  });
}

describe('embeddingSum', () => {
  test('reports its implementation: the portable kernel on cpu, the op library on tensorflow, the composite elsewhere', () => {
    expect(activeImplementations().embeddingSum).toBe(expectedGraphOpImplementation());
  });

  test.each(['auto', 'composite'] as const)('matches gathers and adds for every broadcast form, wide rows and empty terms (%s)', preference => {
    setKernelPreference(preference);
    interface Form {
      label: string;
      width: number;
      lookups: {rows: number; ids: number[]}[];
      constants: number[][];
      norm: boolean;
    }
    const forms: Form[] = [
      // BERT: word [B, S] + position [1, S] + type [B, S] lookups, then the norm, at an odd and a wide width.
      {label: 'bert', width: 13, lookups: [{rows: 11, ids: [2, 3]}, {rows: 7, ids: [1, 3]}, {rows: 2, ids: [2, 3]}],
       constants: [], norm: true},
      {label: 'wide', width: 768, lookups: [{rows: 30, ids: [4, 5]}, {rows: 5, ids: [1, 5]}], constants: [], norm: true},
      // Constants: a [S, W] position slice, a [W] bias, a [1, 1, W] row; scalar and [B, 1] indices.
      {label: 'constants', width: 9, lookups: [{rows: 6, ids: [3, 4]}], constants: [[4, 9], [9], [1, 1, 9]], norm: false},
      {label: 'scalar index', width: 5, lookups: [{rows: 4, ids: []}], constants: [[3, 5]], norm: true},
      {label: 'column index', width: 6, lookups: [{rows: 8, ids: [3, 1]}, {rows: 3, ids: [1, 4]}], constants: [], norm: true},
      // Empty: no batch rows; no sequence; a single row of width 1.
      {label: 'no rows', width: 7, lookups: [{rows: 5, ids: [0, 3]}, {rows: 3, ids: [1, 3]}], constants: [], norm: true},
      {label: 'no sequence', width: 4, lookups: [{rows: 5, ids: [2, 0]}], constants: [[1, 4]], norm: false},
      {label: 'width 1', width: 1, lookups: [{rows: 3, ids: [1]}], constants: [], norm: true},
    ];
    for (const [i, f] of forms.entries()) {
      tf.tidy(() => {
        const tables = f.lookups.map((l, k) => tf.randomNormal([l.rows, f.width], 0, 1, 'float32', 100 * i + k));
        const indices = f.lookups.map((l, k) => tf.randomUniform(l.ids, 0, l.rows, 'int32', 100 * i + 10 + k));
        const constants = f.constants.map((shape, k) => tf.randomNormal(shape, 0, 1, 'float32', 100 * i + 20 + k));
        const gamma = tf.randomNormal([f.width], 1, 0.3, 'float32', 100 * i + 30) as tf.Tensor1D;
        const beta = tf.randomNormal([f.width], 0, 0.3, 'float32', 100 * i + 31) as tf.Tensor1D;
        let want = tf.gather(tables[0], indices[0]);
        for (let k = 1; k < tables.length; k++) want = tf.add(want, tf.gather(tables[k], indices[k]));
        for (const c of constants) want = tf.add(want, c);
        if (f.norm) want = referenceLayerNorm(want, gamma, beta, 1e-12);
        const got = embeddingSum([
          ...tables.map((table, k) => ({table, indices: indices[k]})), ...constants.map(table => ({table})),
        ], f.norm ? {gamma, beta, epsilon: 1e-12} : {});
        expectClose(got, want, f.label);
      });
    }
  });

  test.each(['auto', 'composite'] as const)('matches gathers and adds on random terms, with and without the norm (%s)',
      preference => fc.assert(fc.property(sumCases, c => runSumCase(c, preference)), {numRuns: 40, seed: 5}));

  test('gradients reach the tables, gamma and beta', () => {
    tf.tidy(() => {
      const table = tf.randomNormal([5, 3], 0, 1, 'float32', 1);
      const position = tf.randomNormal([1, 4, 3], 0, 1, 'float32', 2);
      const ids = tf.tensor2d([[0, 4, 4, 1], [2, 2, 3, 0]], [2, 4], 'int32');
      const gamma = tf.randomNormal([3], 1, 0.3, 'float32', 3);
      const beta = tf.randomNormal([3], 0, 0.3, 'float32', 4);
      const dy = tf.randomNormal([2, 4, 3], 0, 1, 'float32', 5);
      const ours = tf.grads((t, p, g, b) => embeddingSum([{table: t, indices: ids}, {table: p}],
          {gamma: g as tf.Tensor1D, beta: b as tf.Tensor1D, epsilon: 1e-5}))([table, position, gamma, beta], dy);
      const want = tf.grads((t, p, g, b) => referenceLayerNorm(tf.add(tf.gather(t, ids), p), g, b, 1e-5))(
          [table, position, gamma, beta], dy);
      ours.forEach((g, i) => expectClose(g, want[i], `gradient ${i}`, GRADIENT));
    });
  });

  test('an index outside the table is an error', () => {
    tf.tidy(() => {
      const table = tf.ones([3, 2]);
      expect(() => embeddingSum([{table, indices: tf.tensor1d([0, 3], 'int32')}])).toThrow(/3/);
      const norm = {gamma: tf.ones([2]) as tf.Tensor1D, beta: tf.zeros([2]) as tf.Tensor1D};
      expect(() => embeddingSum([{table, indices: tf.tensor2d([[0, 1], [-1, 2]], [2, 2], 'int32')}], norm)).toThrow(/-1/);
      // The second term's table has 2 rows: its index 2 is out of range, though the first term's 2 is not.
      expect(() => embeddingSum([{table, indices: tf.tensor1d([2, 2], 'int32')},
                                 {table: tf.ones([2, 2]), indices: tf.tensor1d([1, 2], 'int32')}])).toThrow(/term 1/);
    });
  });

  test('bad arguments are clear errors', () => {
    const table = tf.ones([3, 2]);
    const ids = tf.tensor1d([0, 1], 'int32');
    const v2 = tf.ones([2]) as tf.Tensor1D;
    expect(() => embeddingSum([])).toThrow(/embeddingSum: terms must be a non-empty array/);
    expect(() => embeddingSum([{table}])).toThrow(/at least one lookup/);
    expect(() => embeddingSum([{table, indices: tf.tensor1d([0, 1])}])).toThrow(/terms\[0\].indices must have dtype int32/);
    expect(() => embeddingSum([{table, indices: ids}, {table: tf.ones([4, 3]), indices: ids}])).toThrow(/same width W = 2/);
    expect(() => embeddingSum([{table: tf.ones([3]), indices: ids}])).toThrow(/terms\[0\].table must have rank 2/);
    expect(() => embeddingSum([{table, indices: ids}, {table, indices: tf.tensor1d([0, 1, 2], 'int32')}])).toThrow(/do not broadcast/);
    expect(() => embeddingSum([{table, indices: ids}], {gamma: v2})).toThrow(/gamma and options.beta go together/);
    expect(() => embeddingSum([{table, indices: ids}], {gamma: v2, beta: tf.ones([3]) as tf.Tensor1D})).toThrow(/options.beta must have shape/);
    expect(() => embeddingSum([{table, indices: ids, extra: 1} as never])).toThrow(BetterTransformerArgumentError);
    tf.dispose([table, ids, v2]);
  });
});

describe('attentionScoresShape', () => {
  test('is [..., Sq, Sk] from the shapes, on any backend', () => {
    const q = tf.zeros([2, 3, 5, 4]), k = tf.zeros([2, 3, 7, 4]);
    expect(Array.from(attentionScoresShape(q, k).dataSync())).toEqual([2, 3, 5, 7]);
    expect(activeImplementations()).not.toHaveProperty('attentionScoresShape');
    expect(() => attentionScoresShape(tf.zeros([4]), k)).toThrow(/rank at least 2/);
    tf.dispose([q, k]);
  });
});

describe('relativePositionBias', () => {
  /** bias[0, h, i, j] = table[buckets[clamp(k[j] − q[i], −R, R) + R], h], written out element by element. */
  function reference(table: number[][], buckets: number[], q: number[], k: number[]): number[] {
    const radius = (buckets.length - 1) / 2, heads = table[0].length, out: number[] = [];
    for (let h = 0; h < heads; h++) {
      for (const qi of q) for (const kj of k) out.push(table[buckets[Math.min(Math.max(kj - qi, -radius), radius) + radius]][h]);
    }
    return out;
  }

  const caseArbitrary = fc.record({
    rows: fc.integer({min: 1, max: 9}), heads: fc.integer({min: 1, max: 5}), radius: fc.integer({min: 0, max: 6}),
    q: fc.array(fc.integer({min: -10, max: 10}), {maxLength: 7}), k: fc.array(fc.integer({min: -10, max: 10}), {maxLength: 7}),
    seed: fc.integer({min: 0, max: 1000}),
  });

  test.each(['auto', 'composite'] as const)('matches the element-wise reference on random cases, empty ones and distances past ±R (%s)', preference => {
    setKernelPreference(preference);
    fc.assert(fc.property(caseArbitrary, c => {
      let s = c.seed;
      const next = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
      const table = Array.from({length: c.rows}, () => Array.from({length: c.heads}, () => next() * 4 - 2));
      const buckets = Array.from({length: 2 * c.radius + 1}, () => Math.floor(next() * c.rows));
      tf.tidy(() => {
        const got = relativePositionBias(tf.tensor2d(table), tf.tensor1d(buckets, 'int32'), tf.tensor1d(c.q, 'int32'),
            tf.tensor1d(c.k, 'int32'));
        expect(got.shape).toEqual([1, c.heads, c.q.length, c.k.length]);
        expect(Array.from(got.dataSync())).toEqual(reference(table, buckets, c.q, c.k).map(Math.fround));
      });
    }), {numRuns: 60, seed: 11});
  });

  test('runs the portable kernel on cpu, the composite elsewhere; leaks nothing', () => {
    expect(implementationOf('RelativePositionBias', tf.getBackend())).toBe(expectedPortableImplementation());
    const table = tf.tensor2d([[1, 2], [3, 4]]), buckets = tf.tensor1d([0, 1, 1], 'int32'), q = tf.tensor1d([0, 1], 'int32');
    const before = tf.memory().numTensors;
    const got = relativePositionBias(table, buckets, q, q);
    expect(Array.from(got.dataSync())).toEqual([3, 3, 1, 3, 4, 4, 2, 4]);
    got.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([table, buckets, q]);
  });

  test('one table asked again with the same, then other, then the first positions and buckets: always the reference', () => {
    // The cpu kernel keeps its last result per table; every change of an input must miss it.
    const rows = [[1, 2], [3, 4], [5, 6]];
    const table = tf.tensor2d(rows);
    const calls: Array<[number[], number[], number[]]> = [
      [[0, 1, 2], [0, 1, 2], [0, 1, 2]], [[0, 1, 2], [0, 1, 2], [0, 1, 2]], [[0, 1, 2], [0, 1, 2], [0, 1, 3]],
      [[0, 1, 2], [1, 2], [0, 1, 2]], [[2, 1, 0], [0, 1, 2], [0, 1, 2]], [[0, 1, 2], [0, 1, 2], [0, 1, 2]],
    ];
    for (const [buckets, q, k] of calls) {
      tf.tidy(() => {
        const got = relativePositionBias(table, tf.tensor1d(buckets, 'int32'), tf.tensor1d(q, 'int32'),
            tf.tensor1d(k, 'int32'));
        expect(Array.from(got.dataSync())).toEqual(reference(rows, buckets, q, k));
        got.dataSync()[0] = 1e6;  // a caller writing into its result must not reach the next call's
      });
    }
    table.dispose();
  });

  test('its gradient reaches the table: each bucket row collects the bias gradient of its distances', () => {
    tf.tidy(() => {
      const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
      const buckets = tf.tensor1d([0, 1, 2], 'int32'), q = tf.tensor1d([0, 1, 2], 'int32');
      const dy = tf.randomNormal([1, 2, 3, 3], 0, 1, 'float32', 5);
      const [got] = tf.grads(t => relativePositionBias(t as tf.Tensor2D, buckets, q, q))([table], dy);
      const d = dy.arraySync() as number[][][][];
      const want = [0, 1, 2].map(b => [0, 1].map(h => {
        let sum = 0;
        for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (Math.min(Math.max(j - i, -1), 1) + 1 === b) sum += d[0][h][i][j];
        return sum;
      }));
      expectClose(got, tf.tensor2d(want), 'table gradient', GRADIENT);
    });
  });

  test('refuses bad arguments by name, and a bucket outside the table when it runs', () => {
    const table = tf.ones([3, 2]) as tf.Tensor2D, buckets = tf.tensor1d([0, 1, 2], 'int32'), q = tf.tensor1d([0, 1], 'int32');
    const run = (...a: unknown[]) => () => relativePositionBias(...(a as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D]));
    expect(run(tf.ones([3]), buckets, q, q)).toThrow(/table must have rank 2/);
    expect(run(tf.ones([3, 2], 'int32'), buckets, q, q)).toThrow(/table must have dtype float32/);
    expect(run(tf.ones([0, 2]), buckets, q, q)).toThrow(/table must have at least one bucket/);
    expect(run(table, tf.tensor1d([0, 1], 'int32'), q, q)).toThrow(/bucketOfDistance must have an odd length/);
    expect(run(table, tf.tensor1d([0, 1, 2]), q, q)).toThrow(/bucketOfDistance must have dtype int32/);
    expect(run(table, buckets, tf.tensor1d([0, 1]), q)).toThrow(/queryPositions must have dtype int32/);
    expect(run(table, buckets, q, tf.tensor2d([[0]], [1, 1], 'int32'))).toThrow(/keyPositions must have rank 1/);
    expect(run(table, buckets, q, q)).not.toThrow();
    if (implementationOf('RelativePositionBias', tf.getBackend()) !== 'composite-tfjs-ops') {
      expect(run(table, tf.tensor1d([0, 3, 1], 'int32'), q, q)).toThrow(/bucketOfDistance\[1\] = 3 is outside the table's 3 buckets/);
    }
    expect(run(table, buckets, tf.tensor1d([0.5]), q)).toThrow(BetterTransformerArgumentError);
    tf.dispose([table, buckets, q]);
  });
});
