/**
 * The GPU precision: setGpuPrecision / getGpuPrecision (default 'high', the environment variable
 * TFJS_BT_GPU_PRECISION checked), the per-call `precision` option of every op whose GPU kernel does
 * matrix products (checked by name, resolved at each call and handed to the kernel as its
 * `precision` attribute, the gradient's included), and on the backend this project runs: every op
 * accepts the three precisions. The CPU kernels (native, portable, the TensorFlow op library's CPU
 * kernels on tfjs-node) compute in float32 whatever the precision, so their results are identical;
 * on the `tensorflow` project the attribute reaches the TensorFlow ops, whose definitions also
 * default it. Runs on every jest project.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  activeImplementations, attentionWithKVCache, BetterTransformerArgumentError, createDecoderCache, createKVCache,
  getGpuPrecision, GPU_PRECISIONS, GpuPrecision, opNames, scaledDotProductAttention, setGpuPrecision,
  setKernelPreference, transformerDecoderStack, transformerEncoderLayer, TransformerEncoderLayerWeights,
  transformerEncoderStack,
} from '../src';
import {OpAttrs, NodeBackend} from '../src/backends/tensorflow/node_backend';
import {expectedFusedImplementation} from './helpers/backend';
import {disposeDecoder, randomDecoder} from './helpers/decoder_reference';
import {randomEncoderWeights} from './helpers/encoder_weights';
import {randn} from './helpers/random';

// The composite's gradient differentiates tfjs core ops: their gradients come with tfjs-layers.
beforeAll(() => require('@tensorflow/tfjs-layers'));

const ENV = 'TFJS_BT_GPU_PRECISION';

afterEach(() => {
  setKernelPreference('auto');
  setGpuPrecision('high');
});

/**
 * Runs `body` on a fresh copy of the package's config module (no setGpuPrecision call yet) with
 * TFJS_BT_GPU_PRECISION = `value` (undefined: unset), then restores the variable.
 */
function withEnvironment(value: string | undefined, body: (config: typeof import('../src/config')) => void): void {
  const saved = process.env[ENV];
  if (value === undefined) delete process.env[ENV];
  else process.env[ENV] = value;
  try {
    jest.isolateModules(() => body(require('../src/config')));
  } finally {
    if (saved === undefined) delete process.env[ENV];
    else process.env[ENV] = saved;
  }
}

// First in the file: until setGpuPrecision is called, the ops read the environment variable.
describe('TFJS_BT_GPU_PRECISION before any setGpuPrecision', () => {
  test('an op call without the option follows it; a bad value fails naming the variable; the option needs none', () => {
    const saved = process.env[ENV];
    try {
      tf.tidy(() => {
        const {q, k, v} = attention();
        delete process.env[ENV];
        expect(getGpuPrecision()).toBe('high');
        process.env[ENV] = 'medium';
        expect(getGpuPrecision()).toBe('medium');
        process.env[ENV] = 'bf16';
        expect(() => scaledDotProductAttention(q, k, v)).toThrow(BetterTransformerArgumentError);
        expect(() => scaledDotProductAttention(q, k, v)).toThrow(
            /environment variable TFJS_BT_GPU_PRECISION must be one of 'highest', 'high', 'medium', got 'bf16'/);
        expect(scaledDotProductAttention(q, k, v, {precision: 'high'}).shape).toEqual([2, 4, 5, 8]);
        setGpuPrecision('highest');
        expect(scaledDotProductAttention(q, k, v).shape).toEqual([2, 4, 5, 8]);
      });
    } finally {
      if (saved === undefined) delete process.env[ENV];
      else process.env[ENV] = saved;
    }
  });
});

describe('getGpuPrecision / setGpuPrecision', () => {
  test("the default is 'high'", () => {
    withEnvironment(undefined, config => expect(config.getGpuPrecision()).toBe('high'));
    withEnvironment('', config => expect(config.getGpuPrecision()).toBe('high'));
    expect(GPU_PRECISIONS).toEqual(['highest', 'high', 'medium']);
  });

  test.each(['highest', 'high', 'medium'])('TFJS_BT_GPU_PRECISION=%s sets the initial value', value => {
    withEnvironment(value, config => expect(config.getGpuPrecision()).toBe(value));
  });

  test('a bad TFJS_BT_GPU_PRECISION fails every call that needs it, naming the variable, until set', () => {
    withEnvironment('fp16', config => {
      for (let i = 0; i < 2; i++) {
        expect(() => config.getGpuPrecision()).toThrow(
            /environment variable TFJS_BT_GPU_PRECISION must be one of 'highest', 'high', 'medium', got 'fp16'/);
      }
      let thrown: unknown;
      try {
        config.getGpuPrecision();
      } catch (e) {
        thrown = e;
      }
      expect((thrown as Error).name).toBe('BetterTransformerArgumentError');
      config.setGpuPrecision('medium');
      expect(config.getGpuPrecision()).toBe('medium');
    });
  });

  test('the setting wins over the environment and round-trips', () => {
    withEnvironment('highest', config => {
      config.setGpuPrecision('high');
      expect(config.getGpuPrecision()).toBe('high');
    });
    for (const p of GPU_PRECISIONS) {
      setGpuPrecision(p);
      expect(getGpuPrecision()).toBe(p);
    }
  });

  test.each([['HIGH'], ['fp32'], [''], [undefined], [null], [1], [{}]])('refuses %p, naming the argument', bad => {
    setGpuPrecision('medium');
    expect(() => setGpuPrecision(bad as GpuPrecision)).toThrow(BetterTransformerArgumentError);
    expect(() => setGpuPrecision(bad as GpuPrecision)).toThrow(
        /setGpuPrecision\(precision\) must be one of 'highest', 'high', 'medium', got /);
    expect(getGpuPrecision()).toBe('medium');
  });
});

/** The ops with a `precision` option, each as one call returning its float outputs' values. */
interface OpCase {
  name: string;
  kernel: string;
  run(precision: GpuPrecision | undefined, extra?: Record<string, unknown>): Float32Array[];
}

function values(...ts: tf.Tensor[]): Float32Array[] {
  const out = ts.map(t => t.dataSync() as Float32Array).map(v => Float32Array.from(v));
  tf.dispose(ts);
  return out;
}

const r4 = (shape: number[], seed: number) => randn(shape, seed) as tf.Tensor4D;

const withPrecision = (precision: GpuPrecision | undefined, extra: Record<string, unknown> = {}) =>
  (precision === undefined ? {...extra} : {...extra, precision});

const attention = () => ({
  q: randn([2, 4, 5, 8], 1) as tf.Tensor4D, k: randn([2, 2, 7, 8], 2) as tf.Tensor4D, v: randn([2, 2, 7, 8], 3) as tf.Tensor4D,
  mask: tf.tensor2d([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]], [2, 7], 'int32'),
});

const encoderInput = () => ({
  x: randn([2, 6, 16], 11) as tf.Tensor3D,
  mask: tf.tensor2d([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], [2, 6], 'int32'),
  layer: (seed: number) => randomEncoderWeights(16, 24, seed, seed % 2 === 0) as unknown as TransformerEncoderLayerWeights,
});

const OPS: OpCase[] = [
  {
    name: 'scaledDotProductAttention', kernel: 'ScaledDotProductAttention',
    run: (precision, extra) => tf.tidy(() => {
      const {q, k, v, mask} = attention();
      return values(scaledDotProductAttention(q, k, v, withPrecision(precision, {keyPaddingMask: mask, isCausal: true, ...extra})));
    }),
  },
  {
    name: 'scaledDotProductAttention gradient', kernel: 'ScaledDotProductAttention',
    run: (precision, extra) => tf.tidy(() => {
      const {q, k, v, mask} = attention();
      const dy = randn([2, 4, 5, 8], 4);
      const grads = tf.grads((a, b, c) => scaledDotProductAttention(a as tf.Tensor4D, b as tf.Tensor4D, c as tf.Tensor4D,
          withPrecision(precision, {keyPaddingMask: mask, ...extra})))([q, k, v], dy);
      return values(...grads);
    }),
  },
  {
    name: 'transformerEncoderLayer', kernel: 'TransformerEncoderLayer',
    run: (precision, extra) => tf.tidy(() => {
      const {x, mask, layer} = encoderInput();
      return values(transformerEncoderLayer(x, layer(2), withPrecision(precision, {numHeads: 4, keyPaddingMask: mask, ...extra}) as never));
    }),
  },
  {
    name: 'transformerEncoderStack', kernel: 'TransformerEncoderStack',
    run: (precision, extra) => tf.tidy(() => {
      const {x, mask, layer} = encoderInput();
      return values(transformerEncoderStack(x, [layer(3), layer(4)],
          withPrecision(precision, {numHeads: 2, normFirst: true, keyPaddingMask: mask, ...extra}) as never));
    }),
  },
  {
    name: 'attentionWithKVCache', kernel: 'AttentionWithKVCache',
    run: (precision, extra) => tf.tidy(() => {
      const cache = createKVCache(2, 2, 9, 8);
      const first = attentionWithKVCache(r4([2, 4, 3, 8], 21), r4([2, 2, 3, 8], 22), r4([2, 2, 3, 8], 23), cache,
          withPrecision(precision, extra));
      const second = attentionWithKVCache(r4([2, 4, 1, 8], 24), r4([2, 2, 1, 8], 25), r4([2, 2, 1, 8], 26),
          {keyCache: first.keyCache, valueCache: first.valueCache, pastLengths: first.lengths}, withPrecision(precision, extra));
      return values(first.out, second.out, second.keyCache, second.valueCache);
    }),
  },
  {
    name: 'transformerDecoderStack', kernel: 'TransformerDecoderStack',
    run: (precision, extra) => {
      const f = randomDecoder('llama', 5);
      try {
        return tf.tidy(() => {
          const cache = createDecoderCache(2, 2, 2, 12, 8);
          const ids = tf.tensor2d([[1, 2, 3, 4], [5, 6, 0, 0]], [2, 4], 'int32');
          const step = transformerDecoderStack(ids, f.weights, f.config, cache, withPrecision(precision, {
            newLengths: tf.tensor1d([4, 2], 'int32'), logitsRows: 'all', ...extra,
          }));
          return values(step.logits, step.keyCache, step.valueCache);
        });
      } finally {
        disposeDecoder(f);
      }
    },
  },
];

function isGpuPackage(): boolean {
  return tf.getBackend() === 'tensorflow' && (tf.backend() as {isGPUPackage?: boolean}).isGPUPackage === true;
}

function relativeError(got: Float32Array, want: Float32Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < want.length; i++) {
    num += (got[i] - want[i]) ** 2;
    den += want[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

describe.each(OPS)('$name', op => {
  test('refuses a bad precision option, naming it', () => {
    for (const bad of ['fp16', 'HIGH', '', 3, null]) {
      expect(() => op.run(bad as GpuPrecision)).toThrow(BetterTransformerArgumentError);
      expect(() => op.run(bad as GpuPrecision)).toThrow(/options\.precision must be one of 'highest', 'high', 'medium', got /);
    }
  });

  test('accepts every precision per call and process-wide; the CPU computes in float32 whatever it is', () => {
    if (['scaledDotProductAttention', 'transformerEncoderLayer'].includes(op.name.split(' ')[0])) {
      expect(activeImplementations()[op.name.split(' ')[0] as 'scaledDotProductAttention']).toBe(expectedFusedImplementation());
    }
    const reference = op.run('highest');
    const results: Array<[string, Float32Array[]]> = [];
    for (const p of GPU_PRECISIONS) results.push([`option ${p}`, op.run(p)]);
    for (const p of GPU_PRECISIONS) {
      setGpuPrecision(p);
      results.push([`setGpuPrecision('${p}')`, op.run(undefined)]);
    }
    for (const [label, got] of results) {
      expect([label, got.length]).toEqual([label, reference.length]);
      got.forEach((v, i) => {
        if (isGpuPackage()) {
          // tfjs-node-gpu on a GPU: the precisions differ, within the device check's 'medium' bound.
          expect([label, i, relativeError(v, reference[i]) <= 2e-2]).toEqual([label, i, true]);
        } else {
          expect([label, i, Buffer.from(v.buffer).equals(Buffer.from(reference[i].buffer))]).toEqual([label, i, true]);
        }
      });
    }
  });

  test("hands the kernel the call's precision, else the process-wide one at the call", () => {
    const engine = tf.engine();
    const runKernel = engine.runKernel.bind(engine);
    const seen: unknown[] = [];
    const spy = jest.spyOn(engine, 'runKernel').mockImplementation((name, inputs, attrs) => {
      if (name === opNames(op.kernel as 'ScaledDotProductAttention').kernel ||
          name === opNames('ScaledDotProductAttentionGrad').kernel) {
        seen.push(`${name}:${(attrs as {precision?: unknown}).precision}`);
      }
      return runKernel(name, inputs, attrs);
    });
    try {
      const kernel = opNames(op.kernel as 'ScaledDotProductAttention').kernel;
      setGpuPrecision('medium');
      op.run(undefined);
      const medium = [...seen];
      seen.length = 0;
      op.run('highest');
      const highest = [...seen];
      // Only where a fused kernel runs does the op call runKernel with its own name (the cpu and tensorflow projects).
      expect(medium.length).toBeGreaterThan(0);
      expect(medium.every(s => (s as string).endsWith(':medium'))).toBe(true);
      expect(highest.every(s => (s as string).endsWith(':highest'))).toBe(true);
      expect(medium.some(s => (s as string).startsWith(`${kernel}:`))).toBe(true);
      if (op.name.endsWith('gradient')) {
        expect(medium).toContain(`${opNames('ScaledDotProductAttentionGrad').kernel}:medium`);
      }
    } finally {
      spy.mockRestore();
    }
  });

  test('the composite (any backend without a fused kernel) accepts every precision', () => {
    setKernelPreference('composite');
    const reference = op.run('highest');
    for (const p of GPU_PRECISIONS) {
      const got = op.run(p);
      got.forEach((v, i) => expect(Buffer.from(v.buffer).equals(Buffer.from(reference[i].buffer))).toBe(true));
    }
  });
});

describe('the TensorFlow ops (tensorflow project)', () => {
  const onTensorflow = () => tf.getBackend() === 'tensorflow';

  test('their definitions default the precision attribute: an op call without it runs', () => {
    if (!onTensorflow()) return;
    expect(activeImplementations().scaledDotProductAttention).toBe('tensorflow-op-library');
    const nb = tf.backend() as unknown as NodeBackend;
    tf.tidy(() => {
      const {q, k, v} = attention();
      const none = tf.zeros([0]);
      const attrs = (precision?: string) => {
        const a = new OpAttrs(nb).dtype('Tmask', 'float32').dtype('Tpad', 'float32').float('scale', 0.25)
            .bool('is_causal', false).string('mask_kind', 'none').bool('has_key_padding_mask', false);
        return (precision === undefined ? a : a.string('precision', precision)).build();
      };
      const op = opNames('ScaledDotProductAttention').tensorflowOp;
      const without = nb.executeMultipleOutputs(op, attrs(), [q, k, v, none, none], 2);
      for (const p of GPU_PRECISIONS) {
        const withIt = nb.executeMultipleOutputs(op, attrs(p), [q, k, v, none, none], 2);
        if (!isGpuPackage()) expect(Array.from(withIt[0].dataSync())).toEqual(Array.from(without[0].dataSync()));
      }
    });
  });
});
