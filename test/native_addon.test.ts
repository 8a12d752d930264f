/**
 * The native core addon behind the `cpu` kernels: loaded (always in CI), its
 * binding rejects malformed arguments with errors before touching memory, and
 * every instruction-set path gives the same results.
 */
import {execFileSync} from 'child_process';
import {activeImplementations, nativeCoreFailure} from '../src';
import {nativeCore} from '../src/backends/cpu/native_addon';
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
    batch: 1, heads: 2, kvHeads: 1, querySeq: 3, keySeq: 4, depth: 2, valueDepth: 2, scale: 1, causal: false,
    maskKind: 'none', q: new Float32Array(12), k: new Float32Array(8), v: new Float32Array(8),
    out: new Float32Array(12), lse: new Float32Array(6),
  });

  it('runs a valid call', () => {
    const args = valid();
    args.v.fill(3);
    core().attentionForward(args);
    expect(Array.from(args.out)).toEqual(new Array(12).fill(3));
  });

  it.each([
    ['no options object', () => (core().attentionForward as unknown as () => void)(), /expects one options object/],
    ['a plain array for q', {q: [0, 0]}, /q must be a Float32Array/],
    ['q too short', {q: new Float32Array(11)}, /q has 11 elements, expected 12/],
    ['out too long', {out: new Float32Array(13)}, /out has 13 elements, expected 12/],
    ['negative dimension', {batch: -1}, /batch must be an integer >= 0/],
    ['fractional dimension', {keySeq: 2.5}, /keySeq must be an integer/],
    ['zero heads', {heads: 0}, /heads must be an integer >= 1/],
    ['heads not a multiple', {heads: 3, kvHeads: 2}, /multiple of kvHeads/],
    ['huge dimension', {querySeq: 1e15}, /querySeq must be an integer/],
    ['overflowing sizes', {batch: 1 << 20, heads: 1 << 20, querySeq: 1 << 20}, /overflow/],
    ['bad mask kind', {maskKind: 'sometimes'}, /maskKind must be none, bool or additive/],
    ['mask of the wrong type', {maskKind: 'bool', mask: new Float32Array(24), maskElements: 24, maskStrideB: 0,
                                maskStrideH: 12, maskStrideQ: 4, maskStrideK: 1}, /mask must be a Uint8Array/],
    ['mask strides past its end', {maskKind: 'additive', mask: new Float32Array(4), maskElements: 4, maskStrideB: 0,
                                   maskStrideH: 0, maskStrideQ: 4, maskStrideK: 1}, /reach past the end/],
    ['key validity of the wrong length', {keyValid: new Uint8Array(3)}, /keyValid has 3 elements, expected 4/],
  ])('rejects %s', (_, change, message) => {
    const call = typeof change === 'function' ? change : () => core().attentionForward({...valid(), ...change});
    expect(call).toThrow(message as RegExp);
  });

  it('rejects a malformed encoder layer call', () => {
    expect(() => core().encoderLayer({batch: 1, seq: 2, embed: 4, ffn: 8, numHeads: 3})).toThrow(/multiple of numHeads/);
    expect(() => core().encoderLayer({batch: 1, seq: 2, embed: 4, ffn: 8, numHeads: 2, normFirst: false,
                                      causal: false, activation: 'swish'})).toThrow(/activation must be/);
  });

  it('accepts only its own packed-weight handles, of the right shape', () => {
    const e = 4, f = 8, z = (n: number) => new Float32Array(n);
    const layer = {
      batch: 1, seq: 2, embed: e, ffn: f, numHeads: 2, normFirst: false, causal: false, activation: 'gelu',
      eps1: 1e-5, eps2: 1e-5, scale: 0.5, packedQkv: true, x: z(2 * e), qkvWeight: z(e * 3 * e), qkvBias: z(3 * e),
      outWeight: z(e * e), outBias: z(e), ln1Gamma: z(e), ln1Beta: z(e), ln2Gamma: z(e), ln2Beta: z(e),
      ffnInWeight: z(e * f), ffnInBias: z(f), ffnOutWeight: z(f * e), ffnOutBias: z(e), y: z(2 * e),
    };
    const outPack = core().packWeight({weight: z(e * e), rows: e, cols: e});
    expect(() => core().encoderLayer({...layer, packedOutWeight: outPack})).not.toThrow();
    expect(() => core().encoderLayer({...layer, packedFfnInWeight: outPack}))
        .toThrow(/packedFfnInWeight was packed from a \[4, 4\] weight, expected \[4, 8\]/);
    expect(() => core().encoderLayer({...layer, packedOutWeight: {rows: 4}}))
        .toThrow(/packedOutWeight must be a handle returned by packWeight\(\)/);
    expect(() => core().packWeight({weight: z(3), rows: 2, cols: 2})).toThrow(/weight has 3 elements, expected 4/);
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
