#!/usr/bin/env node
/**
 * Where onnxruntime-node spends a T5-small encoder call, by operator: the evidence behind RESULTS.md's note on the
 * batch-8 encoder row. Runs encoder_model.onnx with onnxruntime's profiler (same session options as the
 * benchmark), then sums each operator type's kernel time per call and, for MatMul, the rate in GFLOP/s.
 * Needs the t5-small models from make_models.py and `node tools/bench-deps.js`.
 *
 *   node tools/seq2seq_bench/ort_encoder_profile.js [--batch 8] [--calls 20]
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
// A benchmark-only dependency: benchmarks/node_modules (node tools/bench-deps.js installs it).
const ort = require(require.resolve('onnxruntime-node', {paths: [path.join(__dirname, '..', '..', 'benchmarks')]}));

function flag(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const batch = flag('--batch', 8), calls = flag('--calls', 20), seq = 64;
  const model = path.resolve(__dirname, '..', '..', '.deps', 'bench-seq2seq', 't5-small', 'onnx', 'onnx', 'encoder_model.onnx');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ort-profile-'));
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: os.availableParallelism(),
    interOpNumThreads: 1, enableProfiling: true, profileFilePrefix: path.join(dir, 'encoder'),
  });
  const ids = new ort.Tensor('int64', BigInt64Array.from({length: batch * seq}, (_, i) => BigInt((i * 37) % 1000 + 5)), [batch, seq]);
  const mask = new ort.Tensor('int64', new BigInt64Array(batch * seq).fill(1n), [batch, seq]);
  const feeds = {input_ids: ids, attention_mask: mask};
  for (let i = 0; i < 10; i++) await session.run(feeds);  // warm-up calls are in the profile too; counted below
  const start = performance.now();
  for (let i = 0; i < calls; i++) await session.run(feeds);
  const wallMs = (performance.now() - start) / calls;
  await session.endProfiling();  // writes encoder_<date>.json into dir
  const file = fs.readdirSync(dir).find((f) => f.endsWith('.json'));
  const events = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
  fs.rmSync(dir, {recursive: true, force: true});

  // Only the timed calls: the last `calls` model_run events bound them.
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').slice(-calls);
  const from = runs[0].ts;
  const byOp = new Map();
  for (const e of events) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time') || e.ts < from) continue;
    const output = (e.args.output_type_shape || []).map((o) => Object.values(o)[0]);
    const inputs = (e.args.input_type_shape || []).map((o) => Object.values(o)[0]);
    const shapes = (list) => list.map((dims) => dims.join('x')).join(', ');
    const key = `${e.args.op_name} (${shapes(inputs)}) -> ${shapes(output)}`;
    const entry = byOp.get(key) || {us: 0, count: 0, flops: 0};
    entry.us += e.dur;
    entry.count++;
    if (e.args.op_name === 'MatMul' && inputs.length >= 1 && output.length === 1) {
      // A prepacked constant B is not listed among the inputs: K comes from A, the rest from the output.
      const a = inputs[0];
      entry.flops += 2 * a[a.length - 1] * output[0].reduce((x, y) => x * y, 1);
    }
    byOp.set(key, entry);
  }
  const total = [...byOp.values()].reduce((s, e) => s + e.us, 0) / 1000 / calls;
  console.log(`onnxruntime-node ${ort.env.versions?.common ?? ''} t5-small encoder, batch ${batch} x ${seq}, ` +
    `${os.availableParallelism()} threads: ${wallMs.toFixed(2)} ms per call, ${total.toFixed(2)} ms in kernels`);
  console.log('| ms per call | nodes per call | GFLOP/s | operator (input shapes) -> output shape |');
  console.log('| ---: | ---: | ---: | --- |');
  for (const [key, e] of [...byOp].sort((x, y) => y[1].us - x[1].us)) {
    const ms = e.us / 1000 / calls;
    if (ms < 0.05) continue;
    const rate = e.flops ? (e.flops / (e.us / 1e6) / 1e9).toFixed(0) : '';
    console.log(`| ${ms.toFixed(2)} | ${e.count / calls} | ${rate} | ${key} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
