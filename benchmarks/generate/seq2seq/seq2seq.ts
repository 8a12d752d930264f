/**
 * `npm run bench:generate -- --seq2seq`: the encoder–decoder part of the generation benchmark (issue 15,
 * item 7). Two random encoder–decoders built by tools/seq2seq_bench (marian-6l: opus-mt's size; t5-small),
 * seeded sources of 64 tokens, 64 new tokens (no EOS: every engine generates exactly that many), batches 1
 * and 8, greedy and 4 beams, through:
 *
 *   transformers.js generate() (onnxruntime-node, merged decoder with past key/values) — the greedy reference
 *   onnxruntime-node merged decoder through transformers.js's sessions with the search loop in the harness —
 *     the beam reference (transformers.js 4.3.1's generate() has no beam search), and greedy as a check
 *   cpu generator (BetterTransformer.generator) — skipped, with the reason, while it refuses the model
 *   tfjs-node original (recompute) — the converted graph on the whole decoder sequence per token
 *
 * and the t5-small encoder alone: onnxruntime-node's encoder_model.onnx against tfjs `cpu` after
 * BetterTransformer.transform, without padding and with 50% padding.
 *
 * Writes its section (between generate-seq2seq markers) into benchmarks/RESULTS.md only with --write-results;
 * otherwise into benchmarks/generate/last-seq2seq-results.md (git-ignored). Every figure goes to
 * .deps/bench-seq2seq/results/last-run.json.
 *
 *   npm run bench:generate -- --seq2seq                      # everything, results beside the harness
 *   npm run bench:generate -- --seq2seq --quick              # smoke run: 8 new tokens, 1 repeat
 *   npm run bench:generate -- --seq2seq --models t5-small --no-generation   # the encoder benchmark only
 *   npm run bench:generate -- --seq2seq --write-results      # a full run into benchmarks/RESULTS.md
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {Command} from 'commander';
import {describeMachine, Machine, repoRoot} from '../../machine';
import {machineSection} from '../../results';
import {agreement} from '../measure';
import {CPU_TRANSFORMED, EncoderCase, EncoderCell, halfPaddedLengths, NODE_ORIGINAL, ORT_ENCODER, runEncoderBenchmark} from './encoder';
import {BetterTransformerSeq2SeqEngine} from './engines/better_transformer';
import {TfjsSeq2SeqRecomputeEngine} from './engines/tfjs_recompute';
import {OrtBeamSearchEngine, TransformersJsSeq2SeqEngine} from './engines/transformers_js';
import {makeSources, median, readSeq2SeqModel, Seq2SeqEngine, Seq2SeqModel} from './model';

export const SECTION_BEGIN = '<!-- generate-seq2seq:begin (written by npm run bench:generate -- --seq2seq --write-results) -->';
export const SECTION_END = '<!-- generate-seq2seq:end -->';

interface Options {
  seq2seq: boolean;
  quick: boolean;
  models: string[];
  batchSizes: number[];
  beams: number[];
  sourceLength: number;
  newTokens: number;
  recomputeNewTokens?: number;
  repeats: number;
  engines?: string;
  generatorRecompute: boolean;
  generation: boolean;
  encoder: boolean;
  encoderBatchSizes: number[];
  encoderRepeats: number;
  encoderSeconds: number;
  writeResults: boolean;
  sectionFile?: string;
}

interface Cell {
  model: string;
  engine: string;
  batch: number;
  beams: number;
  newTokens: number;
  /** Median over repeats of the whole call (encoder, decode steps, search). */
  totalMs: number;
  /** batch × new tokens / totalMs (best beam's tokens only: beams are the search's cost). */
  tokensPerSecond: number;
  msPerStep: number | null;
  /** Median over repeats: the encoder and the first decoder step. */
  firstTokenMs: number | null;
  repeats: number;
  tokens: number[][];
  loadAverage: number;
}

interface Missing {
  model: string;
  engine: string;
  reason: string;
}

const GREEDY_REFERENCE = 'transformers.js generate() (onnxruntime-node)';
const BEAM_REFERENCE = 'onnxruntime-node merged decoder (transformers.js sessions, search loop in the harness)';
const RECOMPUTE = 'tfjs-node original (recompute)';
const GENERATOR = 'cpu generator (BetterTransformer.generator)';

function parseOptions(argv: string[]): Options {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
    return n;
  };
  const list = (v: string) => v.split(',').map(s => s.trim()).filter(Boolean);
  const options = new Command('npm run bench:generate -- --seq2seq')
      .option('--seq2seq', 'the encoder–decoder benchmark (this one)', true)
      .option('--quick', 'smoke run: 8 new tokens, one repeat, encoder 3 repeats', false)
      .option('--models <list>', 'comma-separated models of tools/seq2seq_bench', list, ['marian-6l', 't5-small'])
      .option('--batch-sizes <list>', 'comma-separated batch sizes (sources per call)', (v: string) => list(v).map(int), [1, 8])
      .option('--beams <list>', 'comma-separated beam counts (1: greedy)', (v: string) => list(v).map(int), [1, 4])
      .option('--source-length <n>', 'source tokens per row', int, 64)
      .option('--new-tokens <n>', 'new tokens per source', int, 64)
      .option('--recompute-new-tokens <n>', 'new tokens for the recomputing baseline (default: --new-tokens)', int)
      .option('--repeats <n>', 'generation calls per cell (the median call is reported)', int, 3)
      .option('--engines <substring>', 'run only engines whose name contains this (the references always run, for the ratios)')
      .option('--generator-recompute', 'time the cpu generator even when it falls back to recomputing per token', false)
      .option('--no-generation', 'skip the generation runs')
      .option('--no-encoder', 'skip the encoder-alone runs')
      .option('--encoder-batch-sizes <list>', 'batch sizes of the encoder runs (each without padding; the largest also with 50%)',
              (v: string) => list(v).map(int), [1, 8])
      .option('--encoder-repeats <n>', 'timed calls per encoder engine and case (alternating rounds)', int, 20)
      .option('--encoder-seconds <n>', 'stop the rounds of a case after this long (at least one timed call each)', int, 60)
      .option('--write-results', 'write the section into benchmarks/RESULTS.md', false)
      .option('--section-file <path>', 'write the section to this file')
      .parse(argv)
      .opts<Options>();
  return options.quick ? {...options, newTokens: 8, recomputeNewTokens: 8, repeats: 1, encoderRepeats: 3} : options;
}

function log(message: string): void {
  process.stderr.write(`[seq2seq] ${message}\n`);
}

async function attempt<T>(what: () => Promise<T>): Promise<T | Error> {
  try {
    return await what();
  } catch (e) {
    return e as Error;
  }
}

const firstLine = (e: Error) => (e.message ?? String(e)).split('\n')[0];

function makeEngines(options: Options): Seq2SeqEngine[] {
  const all: Seq2SeqEngine[] = [
    new TransformersJsSeq2SeqEngine(),
    new OrtBeamSearchEngine(),
    new BetterTransformerSeq2SeqEngine(Math.max(options.sourceLength, options.newTokens + 1), options.generatorRecompute),
    new TfjsSeq2SeqRecomputeEngine(),
  ];
  return all.filter(e => !options.engines || e.name.includes(options.engines) || e.name === GREEDY_REFERENCE ||
                         e.name === BEAM_REFERENCE);
}

/** Python's generate() on a few sources (tools/seq2seq_bench/make_reference.py), where it has been made. */
interface PythonReference {
  sources: number[][];
  new_tokens: number;
  greedy: number[][];
  beams: Record<string, number[][]>;
}

/** The engine on the reference's sources, greedy and with each beam count both have: tokens equal to Python's. */
async function checkAgainstPython(engine: Seq2SeqEngine, model: Seq2SeqModel, beams: number[]): Promise<string | null> {
  const file = path.join(model.dir, 'reference.json');
  if (!fs.existsSync(file)) return null;
  const ref = JSON.parse(fs.readFileSync(file, 'utf8')) as PythonReference;
  const parts: string[] = [];
  for (const k of beams) {
    const want = k === 1 ? ref.greedy : ref.beams[String(k)];
    if (!want || engine.unsupported(k)) continue;
    const got = await engine.run(ref.sources, {maxNewTokens: ref.new_tokens, numBeams: k});
    const a = agreement(got.tokens, want);
    parts.push(`${k === 1 ? 'greedy' : `${k} beams`} ${a.identical}/${a.compared} (rows ${a.identicalRows}/${a.rows})`);
  }
  return parts.length ? `tokens equal to Python's generate() on ${ref.sources.length} sources of ${ref.sources[0].length}, ` +
                        `${ref.new_tokens} new tokens: ${parts.join(', ')}` : null;
}

async function runGeneration(options: Options, models: Seq2SeqModel[], cells: Cell[], missing: Missing[],
                             notes: Missing[], checks: Missing[]): Promise<void> {
  for (const model of models) {
    for (const engine of makeEngines(options)) {
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
        notes.push({model: model.name, engine: engine.name, reason: engine.notes});
      }
      const failed = await attempt(async () => {
        // Warm-up: one short call (session and kernel caches, first allocations).
        await engine.run(makeSources(1, options.sourceLength, model.vocabSize), {maxNewTokens: 4, numBeams: 1});
        const check = await checkAgainstPython(engine, model, options.beams);
        if (check) {
          log(`${model.name} · ${engine.name}: ${check}`);
          checks.push({model: model.name, engine: engine.name, reason: check});
        }
        for (const beams of options.beams) {
          const why = engine.unsupported(beams);
          if (why) {
            log(`${model.name} · ${engine.name} · ${beams} beams: not run (${why})`);
            missing.push({model: model.name, engine: `${engine.name}, ${beams} beams`, reason: why});
            continue;
          }
          for (const batch of options.batchSizes) {
            const newTokens = engine.name === RECOMPUTE ? options.recomputeNewTokens ?? options.newTokens : options.newTokens;
            const sources = makeSources(batch, options.sourceLength, model.vocabSize);
            const runs = [];
            for (let i = 0; i < options.repeats; i++) runs.push(await engine.run(sources, {maxNewTokens: newTokens, numBeams: beams}));
            const totals = runs.map(r => r.totalMs);
            const totalMs = median(totals);
            const steps = runs.map(r => r.msPerStep).filter((x): x is number => x !== null);
            const firsts = runs.map(r => r.firstTokenMs).filter((x): x is number => x !== null);
            const cell: Cell = {
              model: model.name, engine: engine.name, batch, beams, newTokens, totalMs,
              tokensPerSecond: batch * newTokens / (totalMs / 1000), msPerStep: steps.length ? median(steps) : null,
              firstTokenMs: firsts.length ? median(firsts) : null,
              repeats: runs.length, tokens: runs[0].tokens, loadAverage: os.loadavg()[0],
            };
            cells.push(cell);
            log(`${model.name} · ${engine.name} · batch ${batch} · ${beams === 1 ? 'greedy' : `${beams} beams`}: ` +
                `${cell.tokensPerSecond.toFixed(1)} tokens/s, ${(totalMs / 1000).toFixed(2)} s per call ` +
                `(median of ${runs.length}: ${totals.map(t => (t / 1000).toFixed(2)).join(', ')} s)` +
                (cell.firstTokenMs !== null ? `, first token ${cell.firstTokenMs.toFixed(1)} ms` : '') +
                (cell.msPerStep !== null ? `, ${cell.msPerStep.toFixed(2)} ms/step` : '') +
                ` (load average ${cell.loadAverage.toFixed(2)})`);
          }
        }
      });
      if (failed instanceof Error) {
        log(`${model.name} · ${engine.name}: failed: ${failed.stack ?? failed}`);
        missing.push({model: model.name, engine: engine.name, reason: `failed while running: ${firstLine(failed)}`});
      }
      await attempt(async () => engine.dispose());
    }
  }
}

const fmt = (x: number | null | undefined, digits: number) => (x !== null && x !== undefined && Number.isFinite(x) ? x.toFixed(digits) : '—');

function describeModel(m: Seq2SeqModel): string {
  const what = m.modelType === 'marian' ?
      'Marian (opus-mt\'s size: 6 + 6 layers, d_model 512, 8 heads, FFN 2048, swish, vocab 58101, tied scaled embeddings, sinusoidal positions)' :
      m.modelType === 't5' ?
      'T5 (t5-small\'s size: 6 + 6 layers, d_model 512, 8 heads of 64, d_ff 2048 ReLU, 32 relative-position buckets, vocab 32128, tied head)' :
      m.modelType;
  const checks = Object.entries(m.checks).filter(([k, v]) => typeof v === 'number' && k.includes('_vs_'))
      .map(([k, v]) => `${k} ${(v as number).toExponential(1)}`).join(', ');
  return `\`${m.name}\`: ${what}, ${(m.parameters / 1e6).toFixed(1)} M parameters; build checks (relative): ${checks}`;
}

function section(machine: Machine, options: Options, models: Seq2SeqModel[], cells: Cell[], encoderCells: EncoderCell[],
                 missing: Missing[], notes: Missing[], encoderNotes: string[], checks: Missing[]): string {
  const lines = [SECTION_BEGIN, '## Text generation: encoder–decoders (Marian, T5-small; random weights)', ''];
  if (options.quick) lines.push('**Smoke run (`--quick`): too short to be a measurement.**', '');
  lines.push(
      'Written by `npm run bench:generate -- --seq2seq` (benchmarks/generate/seq2seq). Random encoder–decoders, one seeded ' +
      'set of fp32 weights each, built by tools/seq2seq_bench/make_models.py into .deps/bench-seq2seq: the tfjs graph model ' +
      '(input_ids, attention_mask, decoder_input_ids → logits) for the tfjs engines, optimum\'s ONNX export of the same ' +
      'weights (encoder_model.onnx, decoder_model_merged.onnx with past key/values) for transformers.js.', '',
      ...models.map(m => `- ${describeModel(m)}`), '',
      `Seeded random sources of ${options.sourceLength} tokens (no padding), ${options.newTokens} new tokens per source ` +
      '(no EOS: every engine generates all of them). "tokens/s" is batch × new tokens over the median whole call ' +
      `(encoder, decode steps, search; median of ${options.repeats} calls); with beams only the best beam's tokens count. ` +
      '"vs reference" divides tokens/s by the reference\'s for the same model, batch and beams: greedy — transformers.js ' +
      'generate(); beams — the harness\'s beam search over transformers.js\'s ONNX Runtime sessions (transformers.js 4.3.1\'s ' +
      'generate() has no beam search: with num_beams > 1 it keeps one candidate per row). Token agreement: tokens equal to ' +
      'the reference\'s at the same index. "first token ms": from the call to the first new token (encoder and first decoder ' +
      'step); "ms/step": median decode step after it (the cpu generator returns its tokens at once: its first token is ' +
      'timed by a separate one-token call and its ms/step is the rest of the call over the remaining steps).', '',
      ...(options.recomputeNewTokens !== undefined && options.recomputeNewTokens !== options.newTokens ?
          [`${RECOMPUTE} generates only ${options.recomputeNewTokens} new tokens (too slow for ${options.newTokens}): its decoder ` +
           'sequences stay shorter, so its tokens/s flatters it against engines that generate all of them.', ''] : []),
      machineSection(machine), loadLine(machine, cells, encoderCells), '',
      `### Generation: source ${options.sourceLength}, ${options.newTokens} new tokens`, '',
      '| model | batch | search | engine | new tokens | tokens/s | s per call | first token ms | ms/step | vs reference | tokens equal to the reference |',
      '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
  for (const model of models) {
    for (const beams of options.beams) {
      for (const batch of options.batchSizes) {
        const group = cells.filter(c => c.model === model.name && c.batch === batch && c.beams === beams);
        const refName = beams === 1 ? GREEDY_REFERENCE : BEAM_REFERENCE;
        const ref = group.find(c => c.engine === refName);
        for (const c of group) {
          const a = ref && c !== ref ? agreement(c.tokens, ref.tokens) : null;
          lines.push(`| ${model.name} | ${batch} | ${beams === 1 ? 'greedy' : `${beams} beams`} | ${c.engine} | ${c.newTokens} | ` +
                     `${fmt(c.tokensPerSecond, 1)} | ${fmt(c.totalMs / 1000, 2)} | ${fmt(c.firstTokenMs, 1)} | ${fmt(c.msPerStep, 2)} | ` +
                     `${c === ref ? 'reference' : ref ? fmt(c.tokensPerSecond / ref.tokensPerSecond, 2) + '×' : '—'} | ` +
                     `${c === ref ? '—' : a ? `${a.identical}/${a.compared} (rows ${a.identicalRows}/${a.rows})` : '—'} |`);
        }
      }
    }
  }
  if (checks.length > 0) {
    lines.push('', 'Against Python (tools/seq2seq_bench/make_reference.py: PyTorch generate(), no EOS, greedy and beam ' +
               'search with length penalty 1): ' + checks.map(c => `${c.engine} on ${c.model}: ${c.reason}`).join('; ') + '.');
  }
  if (encoderCells.length > 0) {
    lines.push('', '### The encoder alone', '',
               `Median of up to ${options.encoderRepeats} calls (fewer where ${options.encoderSeconds} s per case ran out: ` +
               'the "calls" column) after up to 3 warm-up calls (one where a call takes over a second); ' + `${ORT_ENCODER} and ${CPU_TRANSFORMED} timed in ` +
               `alternating rounds, each turn untimed calls for 400 ms and then 3 timed ones (right after the other engine its threads may still be spinning — onnxruntime's keep competing for the cores after run() returns: they tripled the next tfjs call on this 2-core machine and slowed tfjs calls for about 180 ms — and the engine's own are asleep) (where the budget ended the rounds early, the faster engine's remaining calls follow on their own), ` +
               `${NODE_ORIGINAL} after them. Padded rows are right-padded with the pad id and masked. ` +
               '"tokens/s" counts real tokens. "relative difference": max |output − onnxruntime\'s| / max |onnxruntime\'s| at real positions.',
               '', '| model | batch × seq | padding | engine | ms | calls | real tokens/s | vs onnxruntime-node | relative difference |',
               '| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |');
    for (const c of encoderCells) {
      const ref = encoderCells.find(r => r.engine === ORT_ENCODER && r.model === c.model && r.batch === c.batch &&
                                         r.padding === c.padding && r.seq === c.seq);
      lines.push(`| ${c.model} | ${c.batch} × ${c.seq} | ${(c.padding * 100).toFixed(0)}% | ${c.engine} | ${fmt(c.medianMs, 2)} | ${c.repeats} | ` +
                 `${fmt(c.tokensPerSecond, 0)} | ${c === ref ? 'reference' : ref ? fmt(ref.medianMs / c.medianMs, 2) + '×' : '—'} | ` +
                 `${c.relativeDifference === null ? '—' : c.relativeDifference.toExponential(1)} |`);
    }
    if (encoderNotes.length) lines.push('', ...encoderNotes.map(n => `- ${n}`));
  }
  if (notes.length > 0) lines.push('', 'How the engines ran: ' + notes.map(n => `${n.engine} on ${n.model}: ${n.reason}`).join('; ') + '.');
  if (missing.length > 0) lines.push('', 'Not run here: ' + missing.map(m => `${m.engine} on ${m.model}: ${m.reason}`).join('; ') + '.');
  lines.push(SECTION_END);
  return lines.join('\n');
}

function loadLine(machine: Machine, cells: Cell[], encoderCells: EncoderCell[]): string {
  const loads = [...cells.map(c => c.loadAverage), ...encoderCells.map(c => c.loadAverage)].filter(Number.isFinite);
  if (loads.length === 0) return '';
  return `- 1-minute load average at the end of each measured cell: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} ` +
         `on ${machine.cores} cores`;
}

export function writeSeq2SeqSection(file: string, text: string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const begin = current.indexOf(SECTION_BEGIN);
  const end = current.indexOf(SECTION_END);
  const next = begin >= 0 && end > begin ? current.slice(0, begin) + text + current.slice(end + SECTION_END.length) :
      (current ? current.replace(/\n*$/, '\n\n') : '') + text + '\n';
  fs.writeFileSync(file, next);
}

export async function main(argv: string[] = process.argv): Promise<void> {
  const options = parseOptions(argv);
  const root = repoRoot();
  const models: Seq2SeqModel[] = [];
  const missing: Missing[] = [];
  const notes: Missing[] = [];
  for (const name of options.models) {
    const model = readSeq2SeqModel(root, name);
    if (typeof model === 'string') {
      log(model);
      missing.push({model: name, engine: 'all engines', reason: model});
    } else {
      models.push(model);
    }
  }
  if (models.length === 0) throw new Error('no model to run: ' + missing.map(m => m.reason).join('; '));

  const cells: Cell[] = [];
  const checks: Missing[] = [];
  if (options.generation) await runGeneration(options, models, cells, missing, notes, checks);

  const encoderCells: EncoderCell[] = [];
  const encoderNotes: string[] = [];
  if (options.encoder) {
    for (const model of models.filter(m => m.tfjsEncoderDir)) {
      const cases: EncoderCase[] = options.encoderBatchSizes.map(b => ({batch: b, seq: options.sourceLength,
                                                                        lengths: Array(b).fill(options.sourceLength)}));
      const largest = Math.max(...options.encoderBatchSizes);
      cases.push({batch: largest, seq: options.sourceLength, lengths: halfPaddedLengths(largest, options.sourceLength)});
      const outcome = await attempt(() => runEncoderBenchmark(model, cases, {warmup: 3, repeats: options.encoderRepeats,
                                                                             seconds: options.encoderSeconds}, log));
      if (outcome instanceof Error) {
        log(`${model.name} encoder: failed: ${outcome.stack ?? outcome}`);
        missing.push({model: model.name, engine: 'encoder benchmark', reason: firstLine(outcome)});
      } else {
        encoderCells.push(...outcome.cells);
        encoderNotes.push(...outcome.notes);
        missing.push(...outcome.missing.map(reason => ({model: model.name, engine: 'encoder', reason})));
      }
    }
  }

  log('measuring the machine');
  const machine = describeMachine();
  const text = section(machine, options, models, cells, encoderCells, missing, notes, encoderNotes, checks);
  const file = options.sectionFile ? path.resolve(options.sectionFile) :
      options.writeResults && !options.quick ? path.join(root, 'benchmarks', 'RESULTS.md') :
      path.join(root, 'benchmarks', 'generate', 'last-seq2seq-results.md');
  writeSeq2SeqSection(file, text);
  const jsonDir = path.join(root, '.deps', 'bench-seq2seq', 'results');
  fs.mkdirSync(jsonDir, {recursive: true});
  fs.writeFileSync(path.join(jsonDir, 'last-run.json'),
                   JSON.stringify({machine, options, models, cells, encoderCells, encoderNotes, missing, notes, checks}, null, 1));
  console.log(text);
  log(`wrote ${path.relative(root, file)} and ${path.relative(root, path.join(jsonDir, 'last-run.json'))}`);
}

if (require.main === module) {
  main().catch(e => {
    console.error(`seq2seq failed: ${(e as Error).stack ?? e}`);
    process.exit(1);
  });
}
