/**
 * `bench <model_dir>`: times the original and the transformed model on the
 * same random inputs (median of timed runs after a warm-up) and checks that
 * their outputs agree on real tokens. Graph and layers models.
 *
 * Before the timed runs it says what it will run (sizes, and why when the
 * model decided them) and, once the original's warm-up run is timed, roughly
 * how long the whole bench takes; a progress bar follows on a terminal.
 * Everything but the results goes to stderr.
 */
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import {SingleBar, Presets} from 'cli-progress';
import {applyGpuPrecision, prepareBackend} from './backend';
import {getGpuPrecision} from '../config';
import {loadBenchModels} from './bench_models';
import {benchShape} from './bench_shape';
import {randomInputs} from '../transform/verify/probe_inputs';
import {maxRelativeDifference} from '../transform/verify/output_difference';

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer, got '${value}'`);
  return n;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : ms < 120_000 ? `${Math.round(ms / 1000)} s` : `${(ms / 60_000).toFixed(1)} min`;
}

/** An input named as position ids gets 0, 1, …, S − 1 in every row, as the model is fed, not random ids. */
function withPositionIds(inputs: tf.NamedTensorMap): void {
  for (const [name, t] of Object.entries(inputs)) {
    if (!/position/i.test(name) || t.rank !== 2 || t.dtype !== 'int32') continue;
    const [rows, length] = t.shape as [number, number];
    inputs[name] = tf.tidy(() => tf.tile(tf.expandDims(tf.range(0, length, 1, 'int32'), 0), [rows, 1]));
    t.dispose();
  }
}

export async function benchCommand(modelDir: string, opts: Record<string, string>): Promise<void> {
  const asked = {batch: positiveInt('batch', opts['batch']), seq: positiveInt('seq', opts['seq'])};
  const runs = positiveInt('runs', opts['runs']) ?? 10;
  const padding = Number(opts['padding'] ?? '0');
  if (!(padding >= 0 && padding <= 0.9)) throw new Error(`--padding must be between 0 and 0.9, got '${opts['padding']}'`);
  applyGpuPrecision(opts['gpuPrecision']);
  const backend = await prepareBackend(opts['backend']);
  const models = await loadBenchModels(modelDir);
  try {
    const {batch, seq, notes} = benchShape(models.inputs, asked, models.positionLimit);
    if (padding > 0 && !models.inputs.some(s => /mask/i.test(s.name) && (s.shape?.length ?? 2) === 2)) {
      throw new Error(`--padding ${padding}: the model has no attention-mask input, so every token is real; leave --padding out`);
    }
    const {inputs, validTokens} = randomInputs(models.inputs, batch, seq ?? 1, padding);
    withPositionIds(inputs);
    const say = (line: string) => process.stderr.write(`bench: ${line}\n`);
    const totalRuns = 2 * (runs + 2);
    for (const note of notes) say(note);
    say(`${models.kind} on ${backend}, batch ${batch}${seq === null ? '' : `, seq ${seq}`}, padding ${padding}: ` +
        `1 warm-up and ${runs} timed run${runs === 1 ? '' : 's'} per model, then 1 parity run each (${totalRuns} runs)`);

    const times: Record<'original' | 'transformed', number[]> = {original: [], transformed: []};
    let bar: SingleBar | null = null;
    for (const which of ['original', 'transformed'] as const) {
      const t0 = performance.now();
      const warm = await models.run(which, inputs);
      await Promise.all(warm.map(o => o.data()));
      tf.dispose(warm);
      if (which === 'original') {
        const first = performance.now() - t0;
        say(`the original's warm-up run took ${first.toFixed(0)} ms; the rest takes roughly ${seconds(first * (totalRuns - 1))} ` +
            'if every run takes as long (timed runs, and the transformed model, are usually faster)');
        bar = new SingleBar({format: 'bench [{bar}] {value}/{total} {model}', hideCursor: true}, Presets.shades_classic);
        bar.start(totalRuns, 1, {model: which});
      } else {
        bar?.increment(1, {model: which});
      }
      for (let i = 0; i < runs; i++) {
        const start = performance.now();
        const outs = await models.run(which, inputs);
        await Promise.all(outs.map(o => o.data()));
        times[which].push(performance.now() - start);
        tf.dispose(outs);
        bar?.increment(1, {model: which});
      }
    }
    const a = await models.run('original', inputs);
    const b = await models.run('transformed', inputs);
    bar?.increment(2, {model: 'parity'});
    bar?.stop();
    const parity = Math.max(...a.map((t, i) => maxRelativeDifference(t, b[i], validTokens)));
    tf.dispose([...a, ...b]);
    tf.dispose(Object.values(inputs));

    const result = {
      model: modelDir, format: models.kind, backend, gpuPrecision: getGpuPrecision(), batch, seq, padding, runs,
      positions: models.positionLimit?.positions ?? null,
      originalMs: median(times.original), transformedMs: median(times.transformed),
      speedup: median(times.original) / median(times.transformed),
      maxRelativeDifference: parity,
      fused: models.report.fused.map(f => ({kind: f.kind, layers: f.layers})),
    };
    process.stdout.write(
        `backend ${backend}, batch ${batch}${seq === null ? '' : `, seq ${seq}`}, padding ${padding}\n` +
        `original    ${result.originalMs.toFixed(2)} ms (median of ${runs})\n` +
        `transformed ${result.transformedMs.toFixed(2)} ms (median of ${runs})\n` +
        `speed-up    ${result.speedup.toFixed(2)}x, max relative difference on real tokens ${parity.toExponential(2)}\n`);
    if (opts['json']) fs.writeFileSync(opts['json'], JSON.stringify(result, null, 2));
  } finally {
    models.dispose();
  }
}
