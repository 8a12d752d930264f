/**
 * `npm run bench:generate`: text-generation speed of two random decoders (GPT-2 and Llama-style, one seeded
 * set of fp32 weights each) through transformers.js with its key/value cache (the reference), our cached
 * generator (BetterTransformer.generator: cpu fp32, cpu bfloat16 weights, tfjs-node fp32) and the converted
 * graph run by plain tfjs-node recomputing the whole prefix per token. Writes the markdown section and the chart
 * beside the harness (benchmarks/generate/last-results.md, last-chart.svg: git-ignored) or, with --write-results,
 * into benchmarks/RESULTS.md and benchmarks/generate-chart.svg (committed), and every figure as JSON to
 * .deps/bench-decoders/results/last-run.json.
 *
 * Needs the models: tools/decoder_bench/setup.sh, then
 * .deps/minilm-venv/bin/python tools/decoder_bench/make_models.py.
 *
 *   npm run bench:generate                      # batches 1 and 8, prompt 32, 256 new tokens
 *   npm run bench:generate -- --long            # also: position flatness and memory over 2,000 decode steps
 *   npm run bench:generate -- --quick           # smoke run: a few tokens, batches 1 and 2
 *   npm run bench:generate -- --write-results   # a full run into benchmarks/RESULTS.md
 *   npm run bench:generate -- --engines better --models llama-6l
 *   npm run bench:generate -- --seq2seq         # the encoder–decoders instead (benchmarks/generate/seq2seq/seq2seq.ts)
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {Command} from 'commander';
import {describeMachine, repoRoot} from '../machine';
import {ChartPoint, renderGenerationChartSvg} from './chart';
import {DecoderModel, GenerationEngine, readDecoderModel} from './engine';
import {BetterTransformerEngine} from './engines/better_transformer_engine';
import {TfjsRecomputeEngine} from './engines/tfjs_recompute_engine';
import {TransformersJsEngine} from './engines/transformers_js_engine';
import {bucketMedians, CellResult, cellResult, LongResult, samplePositions, stepPoints, windowMedian} from './measure';
import {makePrompts} from './prompts';
import {EngineNote, GenerateSetup, generateSection, MissingEngine, writeSection} from './report';

interface GenerateOptions {
  quick: boolean;
  models: string[];
  batchSizes: number[];
  promptLength: number;
  newTokens: number;
  recomputeNewTokens?: number;
  engines?: string;
  reference: boolean;
  throughput: boolean;
  long: boolean;
  longSteps: number;
  window: number;
  sampleStride: number;
  sectionFile?: string;
  writeResults: boolean;
}

const WINDOW_CENTRES = [64, 1024];

function parseOptions(): GenerateOptions {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
    return n;
  };
  const list = (v: string) => v.split(',').map(s => s.trim()).filter(Boolean);
  const options = new Command('npm run bench:generate --')
      .option('--quick', 'smoke run: 8 new tokens, batches 1 and 2 (--long: 120 decode steps)', false)
      .option('--models <list>', 'comma-separated models of tools/decoder_bench', list, ['gpt2-6l', 'llama-6l'])
      .option('--batch-sizes <list>', 'comma-separated batch sizes', (v: string) => list(v).map(int), [1, 8])
      .option('--prompt-length <n>', 'prompt tokens per sequence', int, 32)
      .option('--new-tokens <n>', 'new tokens per sequence', int, 256)
      .option('--recompute-new-tokens <n>', 'new tokens for the recomputing baseline (default: --new-tokens)', int)
      .option('--engines <substring>', 'run only engines whose name contains this (transformers.js always runs, for the ratios)')
      .option('--no-reference', 'do not run transformers.js unless --engines selects it')
      .option('--no-throughput', 'skip the batch runs (with --long: only the long run)')
      .option('--long', 'also the long run: batch 1, ms/step against position and memory over --long-steps decode steps', false)
      .option('--long-steps <n>', 'decode steps of the long run, after the first new token', int, 2000)
      .option('--window <n>', 'ms/step at a position is the median over position ± window', int, 16)
      .option('--sample-stride <n>', 'the recomputing baseline is timed every n positions inside a window', int, 8)
      .option('--section-file <path>', 'write the results section (and no chart) to this file')
      .option('--write-results', 'write into benchmarks/RESULTS.md and benchmarks/generate-chart.svg (committed files)', false)
      .parse(process.argv)
      .opts<GenerateOptions>();
  return options.quick ? {...options, newTokens: 8, recomputeNewTokens: 8, batchSizes: [1, 2], longSteps: 120} : options;
}

function log(message: string): void {
  process.stderr.write(`[generate] ${message}\n`);
}

function makeEngines(options: GenerateOptions): {engines: GenerationEngine[]; reference: GenerationEngine; recompute: GenerationEngine} {
  const reference = new TransformersJsEngine();
  const recompute = new TfjsRecomputeEngine();
  const all: GenerationEngine[] = [
    reference,
    new BetterTransformerEngine('tfjs cpu better-transformer (fp32)', 'cpu', 'float32'),
    new BetterTransformerEngine('tfjs cpu better-transformer (bf16 weights)', 'cpu', 'bfloat16'),
    new BetterTransformerEngine('tfjs-node better-transformer (fp32)', 'tensorflow', 'float32'),
    recompute,
  ];
  const engines = all.filter(e => (!options.engines || e.name.includes(options.engines)) ||
                                  (e === reference && options.reference));
  return {engines, reference, recompute};
}

async function attempt<T>(what: () => Promise<T>): Promise<T | Error> {
  try {
    return await what();
  } catch (e) {
    return e as Error;
  }
}

const firstLine = (e: Error) => (e.message ?? String(e)).split('\n')[0];

async function main(): Promise<void> {
  // The encoder–decoder part (Marian, T5-small): its own options, engines and section (benchmarks/generate/seq2seq).
  if (process.argv.includes('--seq2seq')) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return (require('./seq2seq/seq2seq') as typeof import('./seq2seq/seq2seq')).main(process.argv);
  }
  const options = parseOptions();
  const root = repoRoot();
  const recomputeNewTokens = options.recomputeNewTokens ?? options.newTokens;
  const {engines, reference, recompute} = makeEngines(options);
  const models: DecoderModel[] = [];
  const missing: MissingEngine[] = [];
  const notes: EngineNote[] = [];
  for (const name of options.models) {
    const model = readDecoderModel(root, name);
    if (typeof model === 'string') {
      log(model);
      missing.push({model: name, engine: 'all engines', reason: model});
    } else {
      models.push(model);
    }
  }
  if (models.length === 0) throw new Error('no model to run: ' + missing.map(m => m.reason).join('; '));

  const cells: CellResult[] = [];
  const longResults: LongResult[] = [];
  const half = options.window;
  for (const model of models) {
    for (const engine of engines) {
      log(`${model.name} · ${engine.name}: loading`);
      const reason = await attempt(() => engine.prepare(model));
      if (reason !== null) {
        const text = reason instanceof Error ? `failed to load: ${firstLine(reason)}` : reason;
        log(`${model.name} · ${engine.name}: not run (${text})`);
        missing.push({model: model.name, engine: engine.name, reason: text});
        await attempt(async () => engine.dispose());
        continue;
      }
      if (engine.notes) {
        log(`${model.name} · ${engine.name}: ${engine.notes}`);
        notes.push({model: model.name, engine: engine.name, text: engine.notes});
      }
      const failed = await attempt(async () => {
        // Warm-up: one short generation (graph compilation, session and kernel caches, first allocations).
        await engine.run(makePrompts(1, options.promptLength, model.vocabSize), {maxNewTokens: 4});
        if (options.throughput) {
          for (const batchSize of options.batchSizes) {
            const newTokens = engine === recompute ? recomputeNewTokens : options.newTokens;
            const prompts = makePrompts(batchSize, options.promptLength, model.vocabSize);
            const run = await engine.run(prompts, {maxNewTokens: newTokens});
            const cell = cellResult(model.name, engine.name, options.promptLength, run);
            cells.push(cell);
            log(`${model.name} · ${engine.name} · batch ${batchSize}: ${cell.decodeTokensPerSecond.toFixed(1)} decode tokens/s, ` +
                `${cell.msPerStep.toFixed(2)} ms/step, prefill ${cell.prefillMs.toFixed(1)} ms, ${newTokens} new tokens in ` +
                `${(cell.totalMs / 1000).toFixed(1)} s (load average ${cell.loadAverage.toFixed(2)})`);
          }
        }
        if (options.long) longResults.push(await longRun(engine, model, options));
      });
      if (failed instanceof Error) {
        log(`${model.name} · ${engine.name}: failed: ${failed.stack ?? failed}`);
        missing.push({model: model.name, engine: engine.name, reason: `failed while running: ${firstLine(failed)}`});
      }
      await attempt(async () => engine.dispose());
    }
  }

  log('measuring the machine');
  const machine = describeMachine();
  const setup: GenerateSetup = {
    quick: options.quick, promptLength: options.promptLength, newTokens: options.newTokens, recomputeNewTokens,
    batchSizes: options.batchSizes, referenceEngine: reference.name, recomputeEngine: recompute.name, long: options.long,
    longSteps: options.longSteps, window: half, windowCentres: WINDOW_CENTRES, sampleStride: options.sampleStride,
  };
  const section = generateSection(machine, setup, models, cells, longResults, missing, notes);
  // Only an explicit --write-results (of a full run) touches the committed files; otherwise beside the harness.
  const committed = options.writeResults && !options.quick;
  const sectionFile = options.sectionFile ? path.resolve(options.sectionFile) :
      committed ? path.join(root, 'benchmarks', 'RESULTS.md') : path.join(root, 'benchmarks', 'generate', 'last-results.md');
  writeSection(sectionFile, section);

  const chartPoints = chartData(cells, longResults);
  if (chartPoints.length > 0 && !options.sectionFile) {
    const title = `ms per decode step against position, batch 1, prompt ${options.promptLength}` +
                  (options.quick ? ' (smoke run)' : '');
    const chartFile = committed ? path.join(root, 'benchmarks', 'generate-chart.svg') :
                                  path.join(root, 'benchmarks', 'generate', 'last-chart.svg');
    fs.writeFileSync(chartFile, await renderGenerationChartSvg(chartPoints, title));
  }
  const jsonDir = path.join(root, '.deps', 'bench-decoders', 'results');
  fs.mkdirSync(jsonDir, {recursive: true});
  fs.writeFileSync(path.join(jsonDir, 'last-run.json'),
                   JSON.stringify({machine, setup, models, cells, longResults, missing, notes}, null, 1));
  console.log(section);
  log(`wrote ${path.relative(root, sectionFile)}${options.sectionFile ? '' : ', the chart'} and ` +
      `${path.relative(root, path.join(jsonDir, 'last-run.json'))}`);
}

/** Batch 1, prompt promptLength: every step of one long generation, or single steps at sampled positions. */
async function longRun(engine: GenerationEngine, model: DecoderModel, options: GenerateOptions): Promise<LongResult> {
  const prompt = makePrompts(1, options.promptLength, model.vocabSize);
  // The last decode step feeds position promptLength + longSteps; it must exist in the model.
  const steps = Math.min(options.longSteps, model.maxPositions - 1 - options.promptLength);
  if (steps < options.longSteps) log(`${model.name}: long run shortened to ${steps} decode steps (${model.maxPositions} positions)`);
  const lastPosition = options.promptLength + steps;
  const centres = WINDOW_CENTRES;
  const base = {model: model.name, engine: engine.name, promptLength: options.promptLength};
  if (engine.stepAtPositions) {
    const positions = samplePositions(centres, options.window, options.sampleStride, 128, lastPosition, 256);
    log(`${model.name} · ${engine.name}: timing single steps at ${positions.length} positions up to ${lastPosition}`);
    const times = await engine.stepAtPositions(prompt[0], positions, 1);
    const points = [...times.entries()].map(([position, ms]) => ({position, ms}));
    const windows: Record<number, number> = {};
    for (const c of centres) windows[c] = windowMedian(points, c, options.window);
    return {...base, method: 'sampled', decodeSteps: 0, points, windows, memory: [], loadAverage: os.loadavg()[0]};
  }
  log(`${model.name} · ${engine.name}: long run, ${steps + 1} new tokens`);
  const run = await engine.run(prompt, {maxNewTokens: steps + 1, memoryAt: [1, 2, Math.ceil((steps + 1) / 2), steps + 1]});
  const points = stepPoints(run, options.promptLength);
  const windows: Record<number, number> = {};
  for (const c of centres) windows[c] = windowMedian(points, c, options.window);
  const first = run.memory.find(m => m.token === 2);
  const last = run.memory[run.memory.length - 1];
  log(`${model.name} · ${engine.name}: ms/step ${centres.map(c => `at ${c}: ${windows[c]?.toFixed(2)}`).join(', ')}; ` +
      `RSS ${first?.rssMiB.toFixed(0)} → ${last?.rssMiB.toFixed(0)} MiB, tensors ${first?.numTensors} → ${last?.numTensors}`);
  return {...base, method: 'generated', decodeSteps: steps, points, windows, memory: run.memory, loadAverage: os.loadavg()[0]};
}

/** The long run where there is one, else the batch-1 runs; per-step times as medians over 16 positions. */
function chartData(cells: CellResult[], longResults: LongResult[]): ChartPoint[] {
  if (longResults.length > 0) {
    return longResults.flatMap(r => (r.method === 'generated' ? bucketMedians(r.points, 16) : r.points)
        .map(p => ({model: r.model, engine: r.engine, position: p.position, ms: p.ms})));
  }
  return cells.filter(c => c.batchSize === 1).flatMap(c => bucketMedians(
      c.stepTimesMs.map((ms, i) => ({position: c.promptLength + i, ms})), 16)
      .map(p => ({model: c.model, engine: c.engine, position: p.position, ms: p.ms})));
}

main().catch(e => {
  console.error(`generate failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
