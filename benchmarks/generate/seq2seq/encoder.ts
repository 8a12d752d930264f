/**
 * The encoder alone (t5-small): onnxruntime-node on the optimum export's encoder_model.onnx against tfjs `cpu`
 * with BetterTransformer.transform on the tfjs encoder graph (.deps/bench-seq2seq/<model>/tfjs_encoder, same
 * weights), and plain tfjs-node on that graph for context. onnxruntime-node and the tfjs `cpu` engine are timed
 * in alternating rounds so that both see the same machine (each turn untimed calls for 400 ms, then 3 timed ones:
 * the untimed calls absorb the other engine's threads still spinning and its own waking) — until the repeats or the
 * time budget run out; an engine left with fewer calls then gets the rest on its own —; tfjs-node runs after them
 * (it is another tfjs backend: alternating would move the weights between backends).
 */
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../../../src';
import {readModelArtifacts} from '../../../src/io/model_files';
import {graphModelArtifacts} from '../../../src/transform/graph_model_transform';
import {makeSources, median, Seq2SeqModel} from './model';

type Ort = typeof import('onnxruntime-node');

export interface EncoderCase {
  batch: number;
  seq: number;
  /** Real tokens per row (seq: no padding). */
  lengths: number[];
}

export interface EncoderCell {
  model: string;
  engine: string;
  batch: number;
  seq: number;
  lengths: number[];
  /** Share of positions that are padding. */
  padding: number;
  medianMs: number;
  /** Real tokens per second (padding excluded). */
  tokensPerSecond: number;
  repeats: number;
  /** max |ours − onnxruntime's| / max |onnxruntime's| over real positions; null for onnxruntime itself. */
  relativeDifference: number | null;
  loadAverage: number;
}

export interface EncoderOutcome {
  cells: EncoderCell[];
  notes: string[];
  missing: string[];
}

/** Real lengths spread evenly, seq − step/2, seq − 3·step/2, … (step = seq / batch): half of all positions are padding. */
export function halfPaddedLengths(batch: number, seq: number): number[] {
  if (batch === 1) return [Math.max(1, seq >> 1)];
  const step = Math.max(1, Math.floor(seq / batch));
  const lengths = Array.from({length: batch}, (_, r) => Math.max(1, seq - step / 2 - r * step));
  return lengths.map(l => Math.round(l));
}

interface Inputs {
  ids: Int32Array;
  mask: Int32Array;
}

function caseInputs(model: Seq2SeqModel, c: EncoderCase): Inputs {
  const sources = makeSources(c.batch, c.seq, model.vocabSize, 777);
  const ids = new Int32Array(c.batch * c.seq).fill(model.padTokenId);
  const mask = new Int32Array(c.batch * c.seq);
  c.lengths.forEach((n, r) => {
    ids.set(sources[r].slice(0, n), r * c.seq);
    mask.fill(1, r * c.seq, r * c.seq + n);
  });
  return {ids, mask};
}

function relativeDifference(ours: Float32Array, ref: Float32Array, mask: Int32Array, width: number): number {
  let diff = 0;
  let scale = 0;
  for (let p = 0; p < mask.length; p++) {
    if (!mask[p]) continue;
    for (let i = p * width; i < (p + 1) * width; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
  }
  return diff / scale;
}

type Runner = (x: Inputs, c: EncoderCase) => Promise<Float32Array>;

async function ortRunner(ort: Ort, file: string): Promise<{run: Runner; release: () => Promise<void>}> {
  const cores = os.availableParallelism ? os.availableParallelism() : os.cpus().length;
  const session = await ort.InferenceSession.create(file, {
    executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: cores, interOpNumThreads: 1,
  });
  const run: Runner = async (x, c) => {
    const out = await session.run({
      input_ids: new ort.Tensor('int64', BigInt64Array.from(x.ids, BigInt), [c.batch, c.seq]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(x.mask, BigInt), [c.batch, c.seq]),
    });
    return out['last_hidden_state'].data as Float32Array;
  };
  return {run, release: () => session.release()};
}

function tfjsRunner(graph: GraphModel): Runner {
  return async (x, c) => {
    const inputs = {
      input_ids: tf.tensor2d(x.ids, [c.batch, c.seq], 'int32'),
      attention_mask: tf.tensor2d(x.mask, [c.batch, c.seq], 'int32'),
    };
    const out = graph.execute(inputs, 'last_hidden_state') as tf.Tensor;
    const data = (await out.data()) as Float32Array;
    tf.dispose([out, inputs.input_ids, inputs.attention_mask]);
    return data;
  };
}

export interface EncoderTiming {
  warmup: number;
  repeats: number;
  /** Rounds stop once a case has taken this long (each engine gets at least one timed call). */
  seconds: number;
}

/**
 * Untimed calls at the start of each engine's turn, for at least this long (and at least one). Measured on 2
 * vCPUs, t5-small at batch 1 (scratch runs of one engine's calls timed one by one right after 20 of the other's):
 * after onnxruntime-node, tfjs calls took 20-39 ms for about 100 ms, 11-12 ms until about 180 ms, then their
 * steady 10.1-10.5 ms (onnxruntime's intra-op threads keep competing for the cores that long); after tfjs,
 * onnxruntime's calls were steady within 50 ms. 50 ms, the earlier value, timed tfjs during that interference.
 */
const SETTLE_MS = 400;
const TIMED_PER_TURN = 3;

async function timeRounds(runners: Array<{name: string; run: Runner}>, x: Inputs, c: EncoderCase,
                          timing: EncoderTiming): Promise<{times: Map<string, number[]>; outputs: Map<string, Float32Array>}> {
  const times = new Map(runners.map(r => [r.name, [] as number[]]));
  const outputs = new Map<string, Float32Array>();
  const start = performance.now();
  for (const r of runners) {
    for (let i = 0; i < timing.warmup; i++) {
      const t0 = performance.now();
      outputs.set(r.name, await r.run(x, c));
      if (performance.now() - t0 > 1000) break;  // a slow engine: one warm-up call is enough
    }
  }
  // Each turn: untimed calls for SETTLE_MS first, then TIMED_PER_TURN timed ones. Right after the other engine its
  // threads may still be spinning (measured: onnxruntime's intra-op threads, spinning after run() returns, tripled
  // the next tfjs call on 2 cores and slowed tfjs for about 180 ms) and this engine's own have gone to sleep; on its own, every engine runs its
  // calls back to back, which is what the timed calls then measure.
  for (let round = 0; round * TIMED_PER_TURN < timing.repeats; round++) {
    if (round > 0 && performance.now() - start > timing.seconds * 1000) break;
    for (const r of runners) {
      const settle = performance.now();
      do await r.run(x, c); while (performance.now() - settle < SETTLE_MS);
      const own = times.get(r.name)!;
      for (let i = 0; i < TIMED_PER_TURN && own.length < timing.repeats; i++) {
        const t0 = performance.now();
        await r.run(x, c);
        own.push(performance.now() - t0);
      }
    }
  }
  // A slow engine ends the rounds early; a fast one then gets its remaining calls now, within the same budget.
  for (const r of runners) {
    const own = times.get(r.name)!;
    const topUpStart = performance.now();
    while (own.length < timing.repeats && performance.now() - topUpStart < timing.seconds * 1000) {
      const t0 = performance.now();
      await r.run(x, c);
      own.push(performance.now() - t0);
    }
  }
  return {times, outputs};
}

export const ORT_ENCODER = 'onnxruntime-node (encoder_model.onnx)';
export const CPU_TRANSFORMED = 'tfjs cpu + BetterTransformer.transform';
export const NODE_ORIGINAL = 'tfjs-node original';

export async function runEncoderBenchmark(model: Seq2SeqModel, cases: EncoderCase[], timing: EncoderTiming,
                                          log: (m: string) => void): Promise<EncoderOutcome> {
  const outcome: EncoderOutcome = {cells: [], notes: [], missing: []};
  if (!model.tfjsEncoderDir) {
    outcome.missing.push(`${model.name}: no tfjs encoder graph (only t5-small has one)`);
    return outcome;
  }
  const ort = require('onnxruntime-node') as Ort;
  const onnxFile = path.join(model.onnxDir, 'onnx', 'encoder_model.onnx');
  const ortSession = await ortRunner(ort, onnxFile);

  require('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const graph = loadGraphModelSync(readModelArtifacts(model.tfjsEncoderDir)) as unknown as GraphModel;
  let transformed: GraphModel = graph;
  let transformNote: string;
  try {
    transformed = BetterTransformer.transform(graph);
    const report = BetterTransformer.report(transformed);
    const fusedLayers = (report?.fused ?? []).reduce((n, b) => n + (b.kind === 'attention' ? 0 : (b as {layers?: number}).layers ?? 0), 0);
    // The report's node lists run to hundreds of names: the blocks, the ops the graph now runs and the check.
    const blocks = (report?.fused ?? []).map(b => `${b.kind} × ${b.layers}`).join(', ') || 'none';
    const topology = graphModelArtifacts(transformed)?.modelTopology as {node?: Array<{op: string}>} | undefined;
    const ops = [...new Set((topology?.node ?? []).map(n => n.op).filter(op => op.startsWith('Bt')))].sort();
    const check = report?.verification;
    transformNote = `BetterTransformer.transform on ${model.name}'s encoder: ${fusedLayers} encoder layers fused ` +
        `(${report?.architecture ?? 'architecture not named'}; blocks: ${blocks}; fused graph ops: ${ops.join(', ') || 'none'}; ` +
        `${report?.skipped.length ?? 0} skipped; verification: ${check && 'maxRelativeDifference' in check ?
          `${check.status}, max relative difference ${check.maxRelativeDifference.toExponential(1)}` : check?.status ?? 'none'})`;
  } catch (e) {
    transformNote = `BetterTransformer.transform threw on ${model.name}'s encoder: ${(e as Error).message.split('\n')[0]} ` +
        '(timed as loaded, untransformed)';
  }
  log(transformNote);
  outcome.notes.push(transformNote);

  const record = (engine: string, c: EncoderCase, times: number[], diff: number | null) => {
    const real = c.lengths.reduce((a, b) => a + b, 0);
    const ms = median(times);
    const cell: EncoderCell = {
      model: model.name, engine, batch: c.batch, seq: c.seq, lengths: c.lengths, padding: 1 - real / (c.batch * c.seq),
      medianMs: ms, tokensPerSecond: real / (ms / 1000), repeats: times.length, relativeDifference: diff,
      loadAverage: os.loadavg()[0],
    };
    outcome.cells.push(cell);
    log(`${model.name} encoder · batch ${c.batch} × ${c.seq}, ${(cell.padding * 100).toFixed(0)}% padding · ${engine}: ` +
        `${ms.toFixed(2)} ms (median of ${times.length})` + (diff !== null ? `, relative difference ${diff.toExponential(1)}` : ''));
  };

  const references = new Map<EncoderCase, Float32Array>();
  for (const c of cases) {
    const x = caseInputs(model, c);
    const {times, outputs} = await timeRounds([
      {name: ORT_ENCODER, run: ortSession.run}, {name: CPU_TRANSFORMED, run: tfjsRunner(transformed)},
    ], x, c, timing);
    const ref = outputs.get(ORT_ENCODER)!;
    references.set(c, ref);
    const width = ref.length / (c.batch * c.seq);
    record(ORT_ENCODER, c, times.get(ORT_ENCODER)!, null);
    record(CPU_TRANSFORMED, c, times.get(CPU_TRANSFORMED)!, relativeDifference(outputs.get(CPU_TRANSFORMED)!, ref, x.mask, width));
  }
  await ortSession.release();
  transformed.dispose();
  if (transformed !== graph) graph.dispose();

  try {
    require('@tensorflow/tfjs-node');
    await tf.setBackend('tensorflow');
    const nodeGraph = loadGraphModelSync(readModelArtifacts(model.tfjsEncoderDir)) as unknown as GraphModel;
    for (const c of cases) {
      const x = caseInputs(model, c);
      const {times, outputs} = await timeRounds([{name: NODE_ORIGINAL, run: tfjsRunner(nodeGraph)}], x, c, timing);
      const ref = references.get(c)!;
      record(NODE_ORIGINAL, c, times.get(NODE_ORIGINAL)!,
             relativeDifference(outputs.get(NODE_ORIGINAL)!, ref, x.mask, ref.length / (c.batch * c.seq)));
    }
    nodeGraph.dispose();
  } catch (e) {
    outcome.missing.push(`${NODE_ORIGINAL} on ${model.name}'s encoder: ${(e as Error).message.split('\n')[0]}`);
  }
  return outcome;
}
