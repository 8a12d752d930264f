/**
 * The native core addon behind the `cpu` kernels: loaded (always in CI), its
 * binding rejects malformed arguments with errors before touching memory, and
 * every instruction-set path gives the same results.
 */
import {execFileSync} from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import * as bt from '../src';
import {activeImplementations, nativeCoreFailure} from '../src';
import {nativeCore} from '../src/backends/cpu/native/addon';
import {closeness} from './helpers/tolerance';

const built = nativeCoreFailure() === null;
const describeNative = built ? describe : describe.skip;

describe('native core addon', () => {
  it('is built and loaded (required in CI)', () => {
    if (process.env.CI) expect(nativeCoreFailure()).toBeNull();
    if (built) expect(activeImplementations('cpu').scaledDotProductAttention).toBe('native-cpu');
  });
});

describeNative('native core binding', () => {
  const core = () => nativeCore()!;
  const valid = () => ({
    B: 1, H: 2, Hkv: 1, Sq: 3, Sk: 4, D: 2, Dv: 2, scale: 1, causal: false,
    q: new Float32Array(12), k: new Float32Array(8), v: new Float32Array(8),
    out: new Float32Array(12), lse: new Float32Array(6),
  });
  type Loose = (args: unknown) => void;
  const scaledDotProductAttention = (args: unknown) => (core().scaledDotProductAttention as unknown as Loose)(args);
  const transformerEncoderLayer = (args: unknown) => (core().transformerEncoderLayer as unknown as Loose)(args);

  it('runs a valid call', () => {
    const args = valid();
    args.v.fill(3);
    core().scaledDotProductAttention(args);
    expect(Array.from(args.out)).toEqual(new Array(12).fill(3));
  });

  it.each([
    ['no options object', () => (core().scaledDotProductAttention as unknown as () => void)(),
     /expected one options object/],
    ['a plain array for q', {q: [0, 0]}, /q must be a Float32Array/],
    ['q too short', {q: new Float32Array(11)}, /q has 11 elements, expected B\*H\*Sq\*D = 12/],
    ['out too long', {out: new Float32Array(13)}, /out has 13 elements, expected B\*H\*Sq\*Dv = 12/],
    ['negative dimension', {B: -1}, /B must be an integer in \[0, /],
    ['fractional dimension', {Sk: 2.5}, /Sk must be an integer/],
    ['zero kv heads', {Hkv: 0}, /Hkv \(0\) must be a positive divisor of H/],
    ['heads not a multiple', {H: 3, Hkv: 2}, /must be a positive divisor of H/],
    ['huge dimension', {Sq: 1e15}, /Sq must be an integer/],
    ['overflowing sizes', {B: 1 << 20, H: 1 << 20, Sq: 1 << 20}, /is too large/],
    ['bad mask kind', {maskKind: 'sometimes', mask: new Uint8Array(24), maskStrides: [0, 12, 4, 1]},
     /maskKind must be 'bool' or 'float'/],
    ['mask of the wrong type', {maskKind: 'bool', mask: new Float32Array(24), maskStrides: [0, 12, 4, 1]},
     /needs mask to be a Uint8Array/],
    ['mask strides past its end', {maskKind: 'additive', mask: new Float32Array(4), maskStrides: [0, 0, 4, 1]},
     /mask has 4 elements but maskStrides reach element 11/],
    ['key padding of the wrong length', {keyPadding: new Uint8Array(3)}, /keyPadding has 3 elements, expected B\*Sk = 4/],
    ['an output that is also an input', {} as Record<string, unknown>, /out shares memory with the input q/],
  ])('rejects %s', (_, change, message) => {
    const call = typeof change === 'function' ? change : () => {
      const args: Record<string, unknown> = {...valid(), ...change};
      if (Object.keys(change).length === 0) args.out = args.q;
      scaledDotProductAttention(args);
    };
    expect(call).toThrow(message as RegExp);
  });

  const z = (n: number) => new Float32Array(n);
  const e = 4, f = 8;
  const layer = () => ({
    B: 1, S: 2, E: e, numHeads: 2, normFirst: false, isCausal: false, activation: 'gelu',
    ln1Eps: 1e-5, ln2Eps: 1e-5, scale: 0.5, x: z(2 * e), wqkv: z(e * 3 * e), bqkv: z(3 * e),
    wo: z(e * e), bo: z(e), ln1Gamma: z(e), ln1Beta: z(e), ln2Gamma: z(e), ln2Beta: z(e),
    w1: z(e * f), b1: z(f), w2: z(f * e), b2: z(e), out: z(2 * e),
  });

  it('rejects a malformed encoder layer call', () => {
    expect(() => transformerEncoderLayer({...layer(), numHeads: 3})).toThrow(/numHeads \(3\) must divide E \(4\)/);
    expect(() => transformerEncoderLayer({...layer(), activation: 'swish'})).toThrow(/activation must be/);
    expect(() => transformerEncoderLayer({...layer(), scale: NaN})).toThrow(/scale must be a finite number/);
    expect(() => transformerEncoderLayer({...layer(), b1: z(f + 1)})).toThrow(/b1 has 9 elements, expected F/);
  });

  it('accepts only its own packed-weight handles, of the right shape', () => {
    const outPack = core().packWeight(z(e * e), e, e);
    expect(() => transformerEncoderLayer({...layer(), wo: outPack})).not.toThrow();
    expect(() => transformerEncoderLayer({...layer(), w1: outPack, b1: z(e)}))
        .toThrow(/w2 has 32 elements, expected 4\*4 = 16/);
    expect(() => transformerEncoderLayer({...layer(), w2: outPack})).toThrow(/w2 is a packed \[4, 4\] weight, expected \[8, 4\]/);
    expect(() => transformerEncoderLayer({...layer(), wo: {rows: 4}}))
        .toThrow(/wo must be a weight handle from packWeight\(\) or a Float32Array/);
    expect(() => core().packWeight(z(3), 2, 2)).toThrow(/weight has 3 elements, expected rows\*cols = 4/);
    core().releaseWeight(outPack);
    expect(() => transformerEncoderLayer({...layer(), wo: outPack})).toThrow(/wo was released with releaseWeight\(\)/);
  });

  it('gives the same results on the AVX-512, AVX2 and portable GEMM paths', () => {
    const script = `
      require('@tensorflow/tfjs-backend-cpu');
      const tf = require('@tensorflow/tfjs-core');
      tf.env().set('IS_TEST', true);
      const bt = require(${JSON.stringify(require.resolve('../dist/index.js'))});
      tf.setBackend('cpu').then(() => {
        const r = (shape, seed) => tf.randomNormal(shape, 0, 0.3, 'float32', seed);
        const E = 24, F = 40;
        const w = {qkvWeight: r([E, 3 * E], 1), qkvBias: r([3 * E], 2), outWeight: r([E, E], 3), outBias: r([E], 4),
                   ln1Gamma: tf.ones([E]), ln1Beta: r([E], 5), ln2Gamma: tf.ones([E]), ln2Beta: r([E], 6),
                   ffnInWeight: r([E, F], 7), ffnInBias: r([F], 8), ffnOutWeight: r([F, E], 9), ffnOutBias: r([E], 10)};
        const mask = tf.tensor2d([[1, 1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0, 0]], [2, 7], 'int32');
        const y = bt.transformerEncoderLayer(r([2, 7, E], 11), w, {numHeads: 3, keyPaddingMask: mask});
        const a = bt.scaledDotProductAttention(r([2, 2, 37, 16], 12), r([2, 2, 41, 16], 13), r([2, 2, 41, 16], 14),
                                               {isCausal: true});
        process.stdout.write(JSON.stringify({impl: bt.activeImplementations().transformerEncoderLayer,
                                             y: Array.from(y.dataSync()), a: Array.from(a.dataSync())}));
      });`;
    const run = (isa: string) => JSON.parse(execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8', env: {...process.env, TFJS_BT_ISA: isa},
    }));
    const reference = run('avx512');
    for (const isa of ['avx2', 'generic']) {
      const other = run(isa);
      expect(other.impl).toBe('native-cpu');
      expect(closeness(other.y, reference.y).ok).toBe(true);
      expect(closeness(other.a, reference.a).ok).toBe(true);
    }
  });
});

describe('tensors whose data lives in a SharedArrayBuffer (weights shared between worker threads)', () => {
  const shared = (values: Float32Array) => {
    const array = new Float32Array(new SharedArrayBuffer(values.byteLength));
    array.set(values);
    return array;
  };
  const ramp = (n: number, start: number) => Float32Array.from({length: n}, (_, i) => Math.sin(start + 0.3 * i));

  it('run through the fused ops exactly like ordinary tensors', () => {
    const [q, k, v] = [ramp(2 * 3 * 4, 0), ramp(2 * 5 * 4, 1), ramp(2 * 5 * 4, 2)];
    const run = (make: (x: Float32Array) => Float32Array) => tf.tidy(() => Array.from(bt.scaledDotProductAttention(
        tf.tensor4d(make(q), [1, 2, 3, 4]), tf.tensor4d(make(k), [1, 2, 5, 4]), tf.tensor4d(make(v), [1, 2, 5, 4]),
        {isCausal: true}).dataSync()));
    expect(run(shared)).toEqual(run(x => x));
    const E = 8, F = 16;
    const weights = (make: (x: Float32Array) => Float32Array) => ({
      qkvWeight: tf.tensor2d(make(ramp(E * 3 * E, 3)), [E, 3 * E]), qkvBias: tf.tensor1d(make(ramp(3 * E, 4))),
      outWeight: tf.tensor2d(make(ramp(E * E, 5)), [E, E]), outBias: tf.tensor1d(make(ramp(E, 6))),
      ln1Gamma: tf.ones([E]) as tf.Tensor1D, ln1Beta: tf.zeros([E]) as tf.Tensor1D,
      ln2Gamma: tf.ones([E]) as tf.Tensor1D, ln2Beta: tf.zeros([E]) as tf.Tensor1D,
      ffnInWeight: tf.tensor2d(make(ramp(E * F, 7)), [E, F]), ffnInBias: tf.tensor1d(make(ramp(F, 8))),
      ffnOutWeight: tf.tensor2d(make(ramp(F * E, 9)), [F, E]), ffnOutBias: tf.tensor1d(make(ramp(E, 10))),
    });
    const layer = (make: (x: Float32Array) => Float32Array) => tf.tidy(() => Array.from(bt.transformerEncoderLayer(
        tf.tensor3d(make(ramp(2 * 3 * E, 11)), [2, 3, E]), weights(make), {numHeads: 2}).dataSync()));
    expect(layer(shared)).toEqual(layer(x => x));
  });
});
