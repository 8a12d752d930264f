/** Bad arguments get a BetterTransformerArgumentError naming the argument, never a crash or garbage. */
import * as tf from '@tensorflow/tfjs-core';
import {
  BetterTransformerArgumentError, scaledDotProductAttention, setKernelPreference, transformerEncoderLayer,
  TransformerEncoderLayerWeights, transformerEncoderStack,
} from '../src';
import {randomEncoderWeights} from './helpers/encoder_weights';

const T = (shape: number[], dtype: tf.DataType = 'float32') => tf.zeros(shape, dtype);

function expectArgError(fn: () => unknown, message: RegExp): void {
  let error: unknown;
  try {
    fn();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(BetterTransformerArgumentError);
  expect((error as Error).message).toMatch(message);
}

describe('scaledDotProductAttention argument errors', () => {
  const q = T([2, 4, 3, 8]), k = T([2, 2, 5, 8]), v = T([2, 2, 5, 6]);
  const sdpa = (...args: unknown[]) => () => (scaledDotProductAttention as (...a: unknown[]) => unknown)(...args);

  it.each([
    ['q not a tensor', sdpa([[1]], k, v), /q must be a tf.Tensor, got an array/],
    ['k missing', sdpa(q, undefined, v), /k must be a tf.Tensor, got undefined/],
    ['wrong rank', sdpa(T([4, 3, 8]), k, v), /q must have rank 4 \(\[B, H, Sq, D\]\), got rank 3 with shape \[4, 3, 8\]/],
    ['int32 q', sdpa(T([2, 4, 3, 8], 'int32'), k, v), /q must have dtype float32, got int32/],
    ['batch mismatch', sdpa(q, T([3, 2, 5, 8]), v), /batch sizes differ: q \[2, 4, 3, 8\], k \[3, 2, 5, 8\]/],
    ['D mismatch', sdpa(q, T([2, 2, 5, 7]), v), /same head dimension D/],
    ['Sk mismatch', sdpa(q, k, T([2, 2, 4, 6])), /k and v must agree on Hkv and Sk/],
    ['Hkv mismatch', sdpa(q, k, T([2, 1, 5, 6])), /k and v must agree on Hkv and Sk/],
    ['H not divisible', sdpa(T([2, 3, 3, 8]), k, v), /H = 3 must be a multiple of .* Hkv = 2/],
    ['zero heads', sdpa(T([2, 0, 3, 8]), T([2, 0, 5, 8]), T([2, 0, 5, 6])), /H and Hkv must be at least 1/],
    ['D = 0', sdpa(T([2, 4, 3, 0]), T([2, 2, 5, 0]), v), /head dimension D must be at least 1/],
    ['int32 attnMask', sdpa(q, k, v, {attnMask: T([3, 5], 'int32')}), /attnMask must have dtype bool .* or float32 .*, got int32/],
    ['attnMask shape', sdpa(q, k, v, {attnMask: T([3, 4])}), /attnMask of shape \[3, 4\] does not broadcast to \[B, H, Sq, Sk\] = \[2, 4, 3, 5\]/],
    ['attnMask rank 5', sdpa(q, k, v, {attnMask: T([1, 2, 4, 3, 5])}), /does not broadcast/],
    ['padding mask shape', sdpa(q, k, v, {keyPaddingMask: T([2, 3], 'int32')}), /keyPaddingMask must have shape \[B, Sk\] = \[2, 5\], got \[2, 3\]/],
    ['padding mask dtype', sdpa(q, k, v, {keyPaddingMask: tf.tensor([['a']], [1, 1], 'string')}), /keyPaddingMask must have dtype int32, bool or float32, got string/],
    ['scale NaN', sdpa(q, k, v, {scale: NaN}), /options.scale must be a finite number, got NaN/],
    ['scale string', sdpa(q, k, v, {scale: '0.5'}), /options.scale must be a finite number, got string/],
    ['isCausal number', sdpa(q, k, v, {isCausal: 1}), /options.isCausal must be a boolean, got number/],
    ['unknown option', sdpa(q, k, v, {causal: true}), /unknown option key 'causal'/],
    ['options not object', sdpa(q, k, v, 'causal'), /options must be an object, got string/],
  ])('%s', (_, fn, message) => expectArgError(fn, message));

  it('rejects a disposed tensor', () => {
    const gone = T([2, 4, 3, 8]);
    gone.dispose();
    expectArgError(sdpa(gone, k, v), /q has already been disposed/);
  });

  it('validates before choosing an implementation (composite path too)', () => {
    setKernelPreference('composite');
    try {
      expectArgError(sdpa(q, T([3, 2, 5, 8]), v), /batch sizes differ/);
    } finally {
      setKernelPreference('auto');
    }
  });

  it('rejects an unknown kernel preference', () => {
    expect(() => setKernelPreference('fast' as 'auto')).toThrow(/must be one of auto, portable, composite, got 'fast'/);
  });
});

describe('transformerEncoderLayer argument errors', () => {
  const x = T([2, 5, 8]);
  const w = randomEncoderWeights(8, 16, 1, true) as unknown as TransformerEncoderLayerWeights;
  const enc = (...args: unknown[]) => () => (transformerEncoderLayer as (...a: unknown[]) => unknown)(...args);
  const without = (name: string) => Object.fromEntries(Object.entries(w).filter(([n]) => n !== name));

  it.each([
    ['x rank', enc(T([5, 8]), w, {numHeads: 2}), /x must have rank 3 \(\[B, S, E\]\), got rank 2/],
    ['x dtype', enc(T([2, 5, 8], 'int32'), w, {numHeads: 2}), /x must have dtype float32, got int32/],
    ['no options', enc(x, w), /options must be an object with at least numHeads/],
    ['numHeads missing', enc(x, w, {}), /options.numHeads must be a positive integer/],
    ['numHeads fractional', enc(x, w, {numHeads: 1.5}), /options.numHeads must be a positive integer/],
    ['E not divisible', enc(x, w, {numHeads: 3}), /E = 8 must be divisible by options.numHeads = 3/],
    ['bad activation', enc(x, w, {numHeads: 2, activation: 'swish'}), /options.activation must be one of 'gelu', 'gelu_tanh', 'relu', 'silu', got 'swish'/],
    ['negative eps', enc(x, w, {numHeads: 2, layerNormEps: -1}), /must not be negative/],
    ['eps triple', enc(x, w, {numHeads: 2, layerNormEps: [1, 2, 3]}), /layerNormEps must be a number or \[ln1Eps, ln2Eps\]/],
    ['missing weight', enc(x, without('ln2Gamma'), {numHeads: 2}), /weights.ln2Gamma is missing \(expected a float32 tensor of shape \[E\]\)/],
    ['wrong weight shape', enc(x, {...w, outWeight: T([8, 7])}, {numHeads: 2}), /weights.outWeight must have shape \[E, E\] = \[8, 8\], got \[8, 7\]/],
    ['wrong ffn shape', enc(x, {...w, ffnOutWeight: T([15, 8])}, {numHeads: 2}), /weights.ffnOutWeight must have shape \[F, E\] = \[16, 8\], got \[15, 8\]/],
    ['weight dtype', enc(x, {...w, ln1Gamma: T([8], 'int32')}, {numHeads: 2}), /weights.ln1Gamma must have dtype float32, got int32/],
    ['both qkv forms', enc(x, {...w, qWeight: T([8, 8])}, {numHeads: 2}), /either packed .* or separate .*, not both/],
    ['no qkv', enc(x, without('qkvWeight'), {numHeads: 2}), /weights.qkvWeight is missing/],
    ['unknown weight', enc(x, {...w, gamma: T([8])}, {numHeads: 2}), /unknown weight key 'gamma'/],
    ['padding mask shape', enc(x, w, {numHeads: 2, keyPaddingMask: T([2, 4], 'int32')}), /keyPaddingMask must have shape \[B, S\] = \[2, 5\], got \[2, 4\]/],
  ])('%s', (_, fn, message) => expectArgError(fn, message));
});

describe('sizes are checked before anything is allocated', () => {
  it('a dimension above 2^31 − 1, even in an empty tensor', () => {
    expectArgError(() => scaledDotProductAttention(T([0, 2, 3, 8]) as tf.Tensor4D, T([0, 2, 2 ** 31, 8]) as tf.Tensor4D,
        T([0, 2, 2 ** 31, 8]) as tf.Tensor4D), /k has a dimension above 2147483647/);
  });

  it('a result of more than 2^31 − 1 elements from small inputs', () => {
    // q [1, 1, 65536, 1] and v [1, 1, 1, 65536]: the result would be [1, 1, 65536, 65536].
    expectArgError(() => scaledDotProductAttention(T([1, 1, 65536, 1]) as tf.Tensor4D, T([1, 1, 1, 1]) as tf.Tensor4D,
        T([1, 1, 1, 65536]) as tf.Tensor4D), /the result would have B\*H\*Sq\*Dv = 4294967296 elements/);
  });

  it('an encoder layer whose feed-forward activation would not fit', () => {
    const w = randomEncoderWeights(8, 2 ** 14, 1, true) as unknown as TransformerEncoderLayerWeights;
    expectArgError(() => transformerEncoderLayer(T([512, 512, 8]) as tf.Tensor3D, w, {numHeads: 2}),
        /the feed-forward activation would have B\*S\*F = 4294967296 elements/);
  });

  it('a sparse layers array names the missing layer', () => {
    const w = randomEncoderWeights(8, 16, 1, true) as unknown as TransformerEncoderLayerWeights;
    const layers = [w, , w] as TransformerEncoderLayerWeights[];  // eslint-disable-line no-sparse-arrays
    expectArgError(() => transformerEncoderStack(T([1, 2, 8]) as tf.Tensor3D, layers, {numHeads: 2}),
        /layers\[1\] must be an object of tensors, got undefined/);
  });

  it('a layers array that grows while it is read is read to the length it had', () => {
    const w = randomEncoderWeights(8, 16, 1, true) as unknown as TransformerEncoderLayerWeights;
    let reads = 0;
    const growing = new Proxy([w], {get: (t, key) => (key === 'length' ? (reads++ === 0 ? 1 : 200_001) : Reflect.get(t, key))});
    const y = transformerEncoderStack(T([1, 2, 8]) as tf.Tensor3D, growing, {numHeads: 2});
    expect(y.shape).toEqual([1, 2, 8]);
    expect(reads).toBe(1);
    expectArgError(() => transformerEncoderStack(T([1, 2, 8]) as tf.Tensor3D, new Array(100_001).fill(w), {numHeads: 2}),
        /layers has 100001 entries; at most 100000/);
  });

  it('numbers that overflow float32', () => {
    expectArgError(() => scaledDotProductAttention(T([1, 1, 2, 4]) as tf.Tensor4D, T([1, 1, 2, 4]) as tf.Tensor4D,
        T([1, 1, 2, 4]) as tf.Tensor4D, {scale: 1e300}), /options.scale must be a finite float32/);
    const w = randomEncoderWeights(8, 16, 1, true) as unknown as TransformerEncoderLayerWeights;
    expectArgError(() => transformerEncoderLayer(T([1, 2, 8]) as tf.Tensor3D, w, {numHeads: 2, layerNormEps: 1e39}),
        /options.layerNormEps must be a finite float32/);
  });
});
