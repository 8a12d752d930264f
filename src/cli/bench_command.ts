/**
 * `bench <model_dir>`: times the original and the transformed model on the
 * same random inputs (median of timed runs after a warm-up) and checks that
 * their outputs agree on real tokens.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import {loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {SingleBar, Presets} from 'cli-progress';
import {BetterTransformer} from '../transform/better_transformer';
import {prepareBackend} from './backend';
import {readModelArtifacts} from '../io/model_files';
import {randomInputs} from '../transform/verify/probe_inputs';
import {maxRelativeDifference} from '../transform/verify/output_difference';

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** execute() where the graph allows it; executeAsync() for graphs with control flow or dynamic shapes. */
async function run(model: GraphModel, inputs: tf.NamedTensorMap): Promise<tf.Tensor[]> {
  let out: tf.Tensor | tf.Tensor[];
  try {
    out = model.execute(inputs);
  } catch (e) {
    if (!/executeAsync/.test((e as Error).message)) throw e;
    out = await model.executeAsync(inputs);
  }
  return Array.isArray(out) ? out : [out];
}

export async function benchCommand(modelDir: string, opts: Record<string, string>): Promise<void> {
  const batch = positiveInt('batch', opts['batch'] ?? '8');
  const seq = positiveInt('seq', opts['seq'] ?? '128');
  const runs = positiveInt('runs', opts['runs'] ?? '10');
  const padding = Number(opts['padding'] ?? '0');
  if (!(padding >= 0 && padding <= 0.9)) throw new Error(`--padding must be between 0 and 0.9, got '${opts['padding']}'`);
  const backend = await prepareBackend(opts['backend']);
  const original = loadGraphModelSync(readModelArtifacts(modelDir)) as unknown as GraphModel;
  const transformed = BetterTransformer.transform(original, {keepOriginalModel: true});
  const report = BetterTransformer.report(transformed);
  if (transformed === original) throw new Error(`nothing to fuse: ${report?.skipped[0]?.reason ?? 'no attention blocks found'}`);
  const {inputs, validTokens} = randomInputs(original.inputs, batch, seq, padding);

  const times: Record<'original' | 'transformed', number[]> = {original: [], transformed: []};
  const bar = new SingleBar({format: 'bench [{bar}] {value}/{total} {model}', hideCursor: true}, Presets.shades_classic);
  bar.start(2 * (runs + 1), 0, {model: ''});
  let parity = 0;
  for (const [name, model] of [['original', original], ['transformed', transformed]] as const) {
    tf.dispose(await run(model, inputs));
    bar.increment(1, {model: name});
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const outs = await run(model, inputs);
      await Promise.all(outs.map(o => o.data()));
      times[name].push(performance.now() - t0);
      tf.dispose(outs);
      bar.increment(1, {model: name});
    }
  }
  bar.stop();
  const a = await run(original, inputs);
  const b = await run(transformed, inputs);
  parity = Math.max(...a.map((t, i) => maxRelativeDifference(t, b[i], validTokens)));
  tf.dispose([...a, ...b]);
  tf.dispose(Object.values(inputs));

  const result = {
    model: modelDir, backend, batch, seq, padding, runs,
    originalMs: median(times.original), transformedMs: median(times.transformed),
    speedup: median(times.original) / median(times.transformed),
    maxRelativeDifference: parity,
    fused: report?.fused.map(f => ({kind: f.kind, layers: f.layers})) ?? [],
  };
  process.stdout.write(
      `backend ${backend}, batch ${batch}, seq ${seq}, padding ${padding}\n` +
      `original    ${result.originalMs.toFixed(2)} ms (median of ${runs})\n` +
      `transformed ${result.transformedMs.toFixed(2)} ms (median of ${runs})\n` +
      `speed-up    ${result.speedup.toFixed(2)}x, max relative difference on real tokens ${parity.toExponential(2)}\n`);
  if (opts['json']) fs.writeFileSync(opts['json'], JSON.stringify(result, null, 2));
  original.dispose();
  transformed.dispose();
}
