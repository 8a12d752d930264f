/**
 * How the native core behaves inside a Node process: the package (addon and
 * its cached packed weights) works from worker_threads, concurrently with the
 * main thread, and long-sequence attention keeps its scratch memory O(tile)
 * (the [Sq, Sk] score matrix is never allocated). Child processes and workers
 * load the built package (dist/, built by `npm test`'s pretest step).
 */
import {execFileSync} from 'child_process';
import {Worker} from 'worker_threads';
import {nativeCoreFailure} from '../src';
import {closeness} from './helpers/tolerance';

const built = nativeCoreFailure() === null;
const describeNative = built ? describe : describe.skip;
const DIST = JSON.stringify(require.resolve('../dist/index.js'));
const ADDON_LOADER = JSON.stringify(require.resolve('../dist/backends/cpu/native/addon.js'));

/** A script computing a padded encoder stack and a causal attention on fixed inputs; posts/prints the results. */
const WORKLOAD = `
  require('@tensorflow/tfjs-backend-cpu');
  const tf = require('@tensorflow/tfjs-core');
  const bt = require(${DIST});
  async function workload() {
    tf.env().set('IS_TEST', true);  // no tfjs-backend-cpu banner on the test run's stderr
    await tf.setBackend('cpu');
    const r = (shape, seed) => tf.randomNormal(shape, 0, 0.3, 'float32', seed);
    const E = 32, F = 48;
    const layer = s => ({qkvWeight: r([E, 3 * E], s), qkvBias: r([3 * E], s + 1), outWeight: r([E, E], s + 2),
        outBias: r([E], s + 3), ln1Gamma: tf.ones([E]), ln1Beta: r([E], s + 4), ln2Gamma: tf.ones([E]),
        ln2Beta: r([E], s + 5), ffnInWeight: r([E, F], s + 6), ffnInBias: r([F], s + 7),
        ffnOutWeight: r([F, E], s + 8), ffnOutBias: r([E], s + 9)});
    const layers = [layer(10), layer(20), layer(30)];
    const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0]], [2, 8], 'int32');
    const x = r([2, 8, E], 1);
    let y;
    for (let i = 0; i < 5; i++) y = bt.transformerEncoderStack(x, layers, {numHeads: 4, keyPaddingMask: mask});
    const a = bt.scaledDotProductAttention(r([2, 4, 70, 16], 2), r([2, 2, 90, 16], 3), r([2, 2, 90, 16], 4),
                                           {isCausal: true});
    return {impl: bt.activeImplementations().transformerEncoderStack,
            y: Array.from(y.dataSync()), a: Array.from(a.dataSync())};
  }`;

function runInWorker(): Promise<{impl: string; y: number[]; a: number[]}> {
  const source = `${WORKLOAD}
    workload().then(result => require('worker_threads').parentPort.postMessage(result));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(source, {eval: true});
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

describeNative('native core in worker_threads', () => {
  it('gives the main thread\'s results in several workers running at once', async () => {
    const main = JSON.parse(execFileSync(process.execPath, ['-e', `${WORKLOAD}
        workload().then(result => process.stdout.write(JSON.stringify(result)));`], {encoding: 'utf8'}));
    expect(main.impl).toBe('native-cpu');
    const results = await Promise.all([runInWorker(), runInWorker(), runInWorker()]);
    for (const result of results) {
      expect(result.impl).toBe('native-cpu');
      expect(closeness(result.y, main.y).ok).toBe(true);
      expect(closeness(result.a, main.a).ok).toBe(true);
    }
  });
});

describeNative('native attention memory', () => {
  it('grows the peak RSS by far less than one [S, S] score matrix at S = 8192, forward and backward', () => {
    // One head, S = 8192: a score matrix would be 8192² floats = 256 MiB. Every input
    // and output is allocated and touched before the baseline is taken.
    const script = `
      const core = require(${ADDON_LOADER}).nativeCore();
      const S = 8192, D = 64, n = S * D;
      const fill = a => { for (let i = 0; i < a.length; i++) a[i] = Math.sin(i * 0.37) * 0.5; return a; };
      const q = fill(new Float32Array(n)), k = fill(new Float32Array(n)), v = fill(new Float32Array(n));
      const out = fill(new Float32Array(n)), lse = fill(new Float32Array(S)), dOut = fill(new Float32Array(n));
      const dQ = fill(new Float32Array(n)), dK = fill(new Float32Array(n)), dV = fill(new Float32Array(n));
      const keyPadding = new Uint8Array(S).fill(1).fill(0, S - 100);
      // Warm-up on a small problem: the thread pool and per-thread scratch exist before the baseline.
      const s = 256 * D;
      core.scaledDotProductAttention({q: q.subarray(0, s), k: k.subarray(0, s), v: v.subarray(0, s),
                                      out: out.subarray(0, s), lse: lse.subarray(0, 256), B: 1, H: 1, Sq: 256, Sk: 256, D});
      const peak = () => process.resourceUsage().maxRSS * 1024;
      const baseline = Math.max(peak(), process.memoryUsage().rss);
      core.scaledDotProductAttention({q, k, v, out, lse, B: 1, H: 1, Sq: S, Sk: S, D, keyPadding});
      core.scaledDotProductAttention({q, k, v, out, lse, B: 1, H: 1, Sq: S, Sk: S, D, causal: true});
      const forward = peak() - baseline;
      core.scaledDotProductAttentionGrad({q, k, v, out, lse, dOut, dQ, dK, dV, B: 1, H: 1, Sq: S, Sk: S, D, causal: true});
      const backward = peak() - baseline;
      if (!out.every(Number.isFinite) || !dQ.every(Number.isFinite)) throw new Error('non-finite results');
      process.stdout.write(JSON.stringify({forward, backward}));`;
    const growth = JSON.parse(execFileSync(process.execPath, ['-e', script], {encoding: 'utf8'}));
    const MiB = 1 << 20;
    expect(growth.forward).toBeLessThan(32 * MiB);
    expect(growth.backward).toBeLessThan(32 * MiB);
  });
});
