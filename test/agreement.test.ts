/**
 * Every implementation this backend has (on `cpu`: the native core, the
 * portable TypeScript kernels and the composite of tfjs ops; on `tensorflow`:
 * the op library and the composite) gives the same answer where the
 * semantics (README, API) leave no room: NaN and ±Infinity where the
 * arithmetic puts them, padded keys never read, empty shapes, extreme scales,
 * gradients of empty problems. One table of cases, each run on every
 * implementation and compared with the others and with its stated outcome.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  activeImplementations, BetterTransformerArgumentError, getKernelPreference, KernelPreference, scaledDotProductAttention,
  setKernelPreference, transformerEncoderLayer, TransformerEncoderLayerWeights,
} from '../src';
import {randomEncoderWeights} from './helpers/encoder_weights';
import {closeness} from './helpers/tolerance';

/** The preferences that select a different implementation on this backend. */
function implementations(): KernelPreference[] {
  const found = new Map<string, KernelPreference>();
  for (const preference of ['auto', 'portable', 'composite'] as const) {
    setKernelPreference(preference);
    const implementation = activeImplementations().scaledDotProductAttention;
    if (!found.has(implementation)) found.set(implementation, preference);
  }
  setKernelPreference('auto');
  return [...found.values()];
}

interface Case {
  name: string;
  /** The op's result, computed with whatever implementation the preference selects. */
  run: () => tf.Tensor;
  /** What the semantics say of the result, on top of agreeing with the other implementations. */
  expect?: (values: Float32Array, shape: number[]) => void;
}

const ramp = (shape: number[], start = 0): tf.Tensor4D => tf.tensor(
    Float32Array.from({length: shape.reduce((a, b) => a * b, 1)}, (_, i) => Math.sin(start + i * 0.37)), shape as [number, number, number, number]);

/** The same tensor with `value` at flat index `index`. */
function withValueAt<T extends tf.Tensor>(t: T, index: number, value: number): T {
  const data = Float32Array.from(t.dataSync());
  data[index] = value;
  return tf.tensor(data, t.shape) as T;
}

const Q = () => ramp([1, 2, 4, 8], 0.1);
const K = () => ramp([1, 2, 5, 8], 0.7);
const V = () => ramp([1, 2, 5, 8], 1.3);
/** Key 3 of 5 is padding. */
const PADDING = () => tf.tensor2d([[1, 1, 1, 0, 1]], [1, 5], 'int32');
/** Flat index of (b 0, h, key j, column c) in a [1, 2, 5, 8] tensor. */
const kvIndex = (h: number, j: number, c: number) => (h * 5 + j) * 8 + c;

function rowsOf(values: Float32Array, rowLength: number): Float32Array[] {
  return Array.from({length: values.length / rowLength}, (_, r) => values.subarray(r * rowLength, (r + 1) * rowLength));
}

const CASES: Case[] = [
  {
    name: 'NaN in one query row makes that row NaN and nothing else',
    run: () => scaledDotProductAttention(withValueAt(Q(), 8 + 3, NaN) as tf.Tensor4D, K(), V()),
    expect: values => rowsOf(values, 8).forEach((row, r) =>
      expect([r, row.every(Number.isNaN), row.some(Number.isNaN)]).toEqual([r, r === 1, r === 1])),
  },
  {
    name: 'NaN and Infinity in k and v of a padded key are never read',
    run: () => scaledDotProductAttention(Q(), withValueAt(K(), kvIndex(1, 3, 2), NaN) as tf.Tensor4D,
        withValueAt(withValueAt(V(), kvIndex(0, 3, 5), NaN), kvIndex(1, 3, 0), Infinity) as tf.Tensor4D,
        {keyPaddingMask: PADDING()}),
    expect: values => {
      expect(values.every(Number.isFinite)).toBe(true);
      const clean = scaledDotProductAttention(Q(), K(), V(), {keyPaddingMask: PADDING()});
      expect(closeness(values, clean.dataSync()).ok).toBe(true);
    },
  },
  {
    name: 'NaN in v of a key every query sees makes that column NaN in every row',
    run: () => scaledDotProductAttention(Q(), K(), withValueAt(V(), kvIndex(0, 2, 6), NaN) as tf.Tensor4D),
    expect: values => rowsOf(values, 8).forEach((row, r) => {
      const head = Math.floor(r / 4);
      row.forEach((x, c) => expect([r, c, Number.isNaN(x)]).toEqual([r, c, head === 0 && c === 6]));
    }),
  },
  {
    name: '+Infinity in v of a visible key makes that column +Infinity',
    run: () => scaledDotProductAttention(Q(), K(), withValueAt(V(), kvIndex(1, 0, 1), Infinity) as tf.Tensor4D),
    expect: values => rowsOf(values, 8).forEach((row, r) =>
      row.forEach((x, c) => expect([r, c, x === Infinity]).toEqual([r, c, r >= 4 && c === 1]))),
  },
  {
    name: 'NaN in k of a visible key makes the rows that see it NaN (causal: only later queries see key 4)',
    run: () => scaledDotProductAttention(Q(), withValueAt(K(), kvIndex(0, 4, 0), NaN) as tf.Tensor4D, V(), {isCausal: true}),
    // Sq = 4, Sk = 5, bottom-right causal: query i sees keys j <= i + 1, so only query 3 sees key 4.
    expect: values => rowsOf(values, 8).forEach((row, r) =>
      expect([r, row.every(Number.isNaN)]).toEqual([r, r === 3])),
  },
  {
    name: 'a query row with no visible key gives zeros',
    run: () => scaledDotProductAttention(Q(), K(), V(), {attnMask: tf.tensor2d([[1, 1, 1, 1, 1], [0, 0, 0, 0, 0],
      [1, 0, 1, 0, 1], [0, 0, 0, 0, 1]], [4, 5], 'bool')}),
    expect: values => rowsOf(values, 8).forEach((row, r) => {
      if (r % 4 === 1) expect(Array.from(row)).toEqual(new Array(8).fill(0));
    }),
  },
  {
    name: 'no keys (Sk = 0) with a float mask [1, 1, 4, 0] gives zeros',
    run: () => scaledDotProductAttention(tf.ones([1, 2, 4, 8]) as tf.Tensor4D, tf.ones([1, 2, 0, 8]) as tf.Tensor4D,
        tf.ones([1, 2, 0, 8]) as tf.Tensor4D, {attnMask: tf.zeros([1, 1, 4, 0])}),
    expect: (values, shape) => {
      expect(shape).toEqual([1, 2, 4, 8]);
      expect(values.every(x => x === 0)).toBe(true);
    },
  },
  {
    name: 'no keys with a bool mask [4, 0] gives zeros',
    run: () => scaledDotProductAttention(tf.ones([1, 2, 4, 8]) as tf.Tensor4D, tf.ones([1, 2, 0, 8]) as tf.Tensor4D,
        tf.ones([1, 2, 0, 8]) as tf.Tensor4D, {attnMask: tf.zeros([4, 0], 'bool')}),
    expect: values => expect(values.every(x => x === 0)).toBe(true),
  },
  {
    name: 'an empty batch (B = 0) with a mask and a padding mask',
    run: () => scaledDotProductAttention(tf.ones([0, 2, 4, 8]) as tf.Tensor4D, tf.ones([0, 2, 5, 8]) as tf.Tensor4D,
        tf.ones([0, 2, 5, 8]) as tf.Tensor4D, {attnMask: tf.zeros([0, 1, 4, 5]), keyPaddingMask: tf.zeros([0, 5], 'int32')}),
    expect: (values, shape) => expect(shape).toEqual([0, 2, 4, 8]),
  },
  {
    name: 'no queries (Sq = 0) with a causal and a bool mask',
    run: () => scaledDotProductAttention(tf.ones([1, 2, 0, 8]) as tf.Tensor4D, K(), V(),
        {attnMask: tf.ones([1, 2, 0, 5], 'bool'), isCausal: true}),
    expect: (values, shape) => expect(shape).toEqual([1, 2, 0, 8]),
  },
  {
    name: 'no value columns (Dv = 0)',
    run: () => scaledDotProductAttention(Q(), K(), tf.ones([1, 2, 5, 0]) as tf.Tensor4D, {keyPaddingMask: PADDING()}),
    expect: (values, shape) => expect(shape).toEqual([1, 2, 4, 0]),
  },
  {
    name: 'a very large finite scale on small scores (1e30 × 1e-32) stays finite',
    run: () => scaledDotProductAttention(tf.mul(Q(), 1e-16) as tf.Tensor4D, tf.mul(K(), 1e-16) as tf.Tensor4D, V(),
        {scale: 1e30}),
    expect: values => expect(values.every(Number.isFinite)).toBe(true),
  },
  {
    name: 'a zero scale averages the values of the visible keys',
    run: () => scaledDotProductAttention(Q(), K(), V(), {scale: 0, keyPaddingMask: PADDING()}),
    expect: values => {
      const v = V().dataSync();
      for (let c = 0; c < 8; c++) {
        const mean = [0, 1, 2, 4].reduce((s, j) => s + v[kvIndex(0, j, c)], 0) / 4;
        expect(Math.abs(values[c] - mean)).toBeLessThan(1e-6);
      }
    },
  },
  {
    name: 'encoder layer: NaN in a padded token\'s input changes no real token',
    run: () => {
      const x = withValueAt(ramp([2, 5, 16], 0.2), (1 * 5 + 4) * 16 + 3, NaN) as unknown as tf.Tensor3D;
      const mask = tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], [2, 5], 'int32');
      return transformerEncoderLayer(x, randomEncoderWeights(16, 32, 1, true) as unknown as TransformerEncoderLayerWeights,
          {numHeads: 4, keyPaddingMask: mask});
    },
    expect: values => {
      expect(values.every(Number.isFinite)).toBe(true);
      // Padded rows are exactly 0.
      for (const token of [8, 9]) expect(Array.from(values.subarray(token * 16, (token + 1) * 16))).toEqual(new Array(16).fill(0));
    },
  },
];

/** NaN where the other has NaN, equal infinities, and finite values within the float32 tolerance. */
function agree(a: Float32Array, b: Float32Array): string | null {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  for (let i = 0; i < a.length; i++) {
    if (Number.isNaN(a[i]) !== Number.isNaN(b[i])) return `element ${i}: ${a[i]} vs ${b[i]}`;
    if (!Number.isFinite(a[i]) && !Number.isNaN(a[i]) && a[i] !== b[i]) return `element ${i}: ${a[i]} vs ${b[i]}`;
  }
  const finite = (x: Float32Array) => x.map(v => (Number.isFinite(v) ? v : 0));
  const c = closeness(finite(a), finite(b));
  return c.ok ? null : c.detail;
}

afterEach(() => setKernelPreference('auto'));

describe.each(CASES.map(c => [c.name, c] as const))('%s', (_, c) => {
  test('every implementation gives the stated result, and the same one', () => {
    const results: Array<{name: string; values: Float32Array; shape: number[]}> = [];
    for (const preference of implementations()) {
      setKernelPreference(preference);
      const name = `${activeImplementations().scaledDotProductAttention} (${getKernelPreference()})`;
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const out = c.run();
        const values = Float32Array.from(out.dataSync());
        c.expect?.(values, out.shape);
        results.push({name, values, shape: out.shape});
      });
      expect(tf.memory().numTensors).toBe(before);
    }
    for (const r of results.slice(1)) {
      expect(r.shape).toEqual(results[0].shape);
      expect([r.name, agree(r.values, results[0].values)]).toEqual([r.name, null]);
    }
  });
});

describe('gradients of empty problems are zeros on every implementation', () => {
  const shapes: Array<[string, number[], number[], number[]]> = [
    ['Sk = 0', [1, 2, 4, 8], [1, 2, 0, 8], [1, 2, 0, 8]],
    ['B = 0', [0, 2, 4, 8], [0, 2, 5, 8], [0, 2, 5, 8]],
    ['Dv = 0', [1, 2, 4, 8], [1, 2, 5, 8], [1, 2, 5, 0]],
  ];
  test.each(shapes)('%s', (_, qs, ks, vs) => {
    for (const preference of implementations()) {
      setKernelPreference(preference);
      tf.tidy(() => {
        const [q, k, v] = [tf.ones(qs), tf.ones(ks), tf.ones(vs)];
        const grads = tf.grads((a, b, c) => scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D))(
            [q, k, v], tf.ones([qs[0], qs[1], qs[2], vs[3]]));
        grads.forEach((g, i) => {
          expect(g.shape).toEqual([qs, ks, vs][i]);
          expect(g.dataSync().every(x => x === 0)).toBe(true);
        });
      });
    }
  });
});

describe('scales that are not finite float32 numbers are refused before any kernel runs', () => {
  test.each([1e300, -1e39, Infinity, NaN])('scale %p', scale => {
    expect(() => scaledDotProductAttention(Q(), K(), V(), {scale})).toThrow(BetterTransformerArgumentError);
    expect(() => scaledDotProductAttention(Q(), K(), V(), {scale})).toThrow(/options.scale/);
  });
});
