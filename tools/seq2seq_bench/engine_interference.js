#!/usr/bin/env node
/**
 * How long one engine's threads disturb the other after it stops: the evidence for the encoder benchmark's
 * settle time (benchmarks/generate/seq2seq/encoder.ts, SETTLE_MS). Runs 20 calls of one engine, then times the
 * other engine's calls one by one for 400 ms, both ways round, three times each. Prints "ms since the switch:
 * call ms" pairs. Needs `npm run build` and the t5-small models from make_models.py.
 *
 *   node tools/seq2seq_bench/engine_interference.js [--batch 1]
 */
'use strict';
const path = require('path');
const tf = require('@tensorflow/tfjs-core');
require('@tensorflow/tfjs-backend-cpu');
// A benchmark-only dependency: benchmarks/node_modules (node tools/bench-deps.js installs it).
const ort = require(require.resolve('onnxruntime-node', {paths: [path.join(__dirname, '..', '..', 'benchmarks')]}));
const {loadGraphModelSync} = require('@tensorflow/tfjs-converter');
const root = path.resolve(__dirname, '..', '..');
const {readModelArtifacts} = require(path.join(root, 'dist', 'io', 'model_files'));
const {BetterTransformer} = require(path.join(root, 'dist'));

const WINDOW_MS = 400;

async function main() {
  const batchFlag = process.argv.indexOf('--batch');
  const batch = batchFlag > 0 ? Number(process.argv[batchFlag + 1]) : 1;
  const seq = 64;
  const models = path.join(root, '.deps', 'bench-seq2seq', 't5-small');
  await tf.setBackend('cpu');
  const graph = BetterTransformer.transform(loadGraphModelSync(readModelArtifacts(path.join(models, 'tfjs_encoder'))));
  const session = await ort.InferenceSession.create(path.join(models, 'onnx', 'onnx', 'encoder_model.onnx'), {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: require('os').availableParallelism(),
    interOpNumThreads: 1,
  });
  const ids = Int32Array.from({length: batch * seq}, (_, i) => (i * 37) % 1000 + 5);
  const mask = new Int32Array(batch * seq).fill(1);
  const engines = {
    'tfjs cpu + transform': async () => {
      const a = tf.tensor2d(ids, [batch, seq], 'int32'), b = tf.tensor2d(mask, [batch, seq], 'int32');
      const out = graph.execute({input_ids: a, attention_mask: b}, 'last_hidden_state');
      await out.data();
      tf.dispose([out, a, b]);
    },
    'onnxruntime-node': async () => {
      await session.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [batch, seq]),
        attention_mask: new ort.Tensor('int64', BigInt64Array.from(mask, BigInt), [batch, seq]),
      });
    },
  };
  for (let i = 0; i < 20; i++) for (const run of Object.values(engines)) await run();
  for (const [before, after] of [['onnxruntime-node', 'tfjs cpu + transform'], ['tfjs cpu + transform', 'onnxruntime-node']]) {
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20; i++) await engines[before]();
      const switched = performance.now();
      const series = [];
      while (performance.now() - switched < WINDOW_MS) {
        const t0 = performance.now();
        await engines[after]();
        series.push(`${Math.round(t0 - switched)}:${(performance.now() - t0).toFixed(1)}`);
      }
      console.log(`${after} after ${before}, batch ${batch}: ${series.join(' ')}`);
    }
  }
  await session.release();
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
