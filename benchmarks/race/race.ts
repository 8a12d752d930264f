/**
 * `npm run bench:race`: all-MiniLM-L6-v2 on the same sentences and batches
 * through tfjs (cpu original and transformed, wasm original, tfjs-node
 * original and transformed where installed) and transformers.js. Writes its
 * section and chart beside the harness (benchmarks/race/last-results.md and
 * last-chart.svg, git-ignored); with --write-results into the race section of
 * benchmarks/RESULTS.md and benchmarks/race-chart.svg, the committed ones.
 * Each engine and batch size stops at --budget (120 s), so a full run takes at most about 40 minutes.
 *
 * Needs the fp32 tfjs graph and the ONNX export in .deps: tools/minilm/setup.sh, then
 * .deps/minilm-venv/bin/python tools/minilm/convert.py.
 *
 *   npm run bench:race                 # 256 sentences, batches 1, 8, 32
 *   npm run bench:race -- --quick      # smoke run: 16 sentences, short budget
 *   npm run bench:race -- --write-results   # a full run into benchmarks/RESULTS.md
 */
import * as fs from 'fs';
import * as path from 'path';
import {Command} from 'commander';
import {SentenceTokenizer} from '../../src/embeddings/tokenizer';
import {readEmbedderConfig} from '../../src/embeddings/embedder_config';
import {cosineSimilarity} from '../../src/embeddings/sentence_embedder';
import {describeMachine, repoRoot} from '../machine';
import {renderChartSvg} from './chart';
import {raceSentences} from './corpus';
import {CellResult, makeBatches, runCell} from './measure';
import {RaceEngine} from './race_engine';
import {EngineAgreement, MissingEngine, raceSection, writeSection} from './report';
import {TfjsRaceEngine} from './tfjs_race_engine';
import {TransformersJsEngine} from './transformers_js_engine';

interface RaceOptions {
  quick: boolean;
  sentences: number;
  batchSizes: number[];
  repeats: number;
  budget: number;
  engines?: string;
  writeResults: boolean;
}

const AGREEMENT_SENTENCES = 8;

function parseOptions(): RaceOptions {
  const int = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
    return n;
  };
  const options = new Command('npm run bench:race --')
      .option('--quick', 'smoke run: 16 sentences, batches 1 and 8, one pass, 10 s per cell', false)
      .option('--sentences <n>', 'sentences in the corpus', int, 256)
      .option('--batch-sizes <list>', 'comma-separated batch sizes', (v: string) => v.split(',').map(int), [1, 8, 32])
      .option('--repeats <n>', 'full passes per cell (median reported)', int, 3)
      .option('--budget <seconds>', 'time budget per cell', int, 120)
      .option('--engines <substring>', 'run only engines whose name contains this')
      .option('--write-results', 'write into benchmarks/RESULTS.md and benchmarks/race-chart.svg (committed files)', false)
      .parse(process.argv)
      .opts<RaceOptions>();
  return options.quick ? {...options, sentences: 16, batchSizes: [1, 8], repeats: 1, budget: 10} : options;
}

function log(message: string): void {
  process.stderr.write(`[race] ${message}\n`);
}

async function main(): Promise<void> {
  const options = parseOptions();
  const root = repoRoot();
  const fp32Dir = path.join(root, '.deps', 'minilm-tfjs-fp32');
  const onnxDir = path.join(root, '.deps', 'minilm-onnx');
  if (!fs.existsSync(path.join(fp32Dir, 'model.json'))) {
    throw new Error(`no fp32 tfjs model in ${fp32Dir}: run tools/minilm/setup.sh, then ` +
                    '.deps/minilm-venv/bin/python tools/minilm/convert.py');
  }
  const sentences = raceSentences(options.sentences);
  const tokenizer = SentenceTokenizer.fromDirectory(fp32Dir, readEmbedderConfig(fp32Dir).maxSeqLength);
  const tokenCounts = sentences.map(s => tokenizer.encode(s).length);
  const totalTokens = tokenCounts.reduce((a, b) => a + b, 0);
  log(`${sentences.length} sentences, ${totalTokens} tokens (${Math.min(...tokenCounts)}–${Math.max(...tokenCounts)} per sentence)`);

  const reference = new TransformersJsEngine(onnxDir);
  const engines: RaceEngine[] = [
    reference,
    new TfjsRaceEngine('tfjs cpu transformed', 'cpu', true, fp32Dir),
    new TfjsRaceEngine('tfjs cpu original', 'cpu', false, fp32Dir),
    new TfjsRaceEngine('tfjs wasm original', 'wasm', false, fp32Dir),
    new TfjsRaceEngine('tfjs-node transformed', 'tensorflow', true, fp32Dir),
    new TfjsRaceEngine('tfjs-node original', 'tensorflow', false, fp32Dir),
  ].filter(e => !options.engines || e.name.includes(options.engines) || e === reference);

  const cells: CellResult[] = [];
  const missing: MissingEngine[] = [];
  const agreement: EngineAgreement[] = [];
  let referenceEmbeddings: Float32Array[] | null = null;
  for (const engine of engines) {
    log(`${engine.name}: loading`);
    const reason = await engine.prepare();
    if (reason) {
      log(`${engine.name}: not run (${reason})`);
      missing.push({engine: engine.name, reason});
      continue;
    }
    const check = await engine.embedBatch(sentences.slice(0, AGREEMENT_SENTENCES));
    if (engine === reference) referenceEmbeddings = check;
    else if (referenceEmbeddings) {
      const cosines = check.map((e, i) => cosineSimilarity(e, referenceEmbeddings![i]));
      agreement.push({engine: engine.name, minCosine: Math.min(...cosines)});
    }
    for (const batchSize of options.batchSizes) {
      const cell = await runCell(engine, makeBatches(sentences, tokenCounts, batchSize), batchSize, options.repeats,
                                 options.budget * 1000);
      log(`${engine.name} batch ${batchSize}: ${cell.sentencesPerSecond.toFixed(1)} sentences/s, ` +
          `${cell.msPerBatch.toFixed(1)} ms/batch (${cell.sentencesCovered}/${sentences.length} sentences, ${cell.passes} passes)`);
      cells.push(cell);
    }
    await engine.dispose();
  }

  log('measuring the machine');
  const machine = describeMachine();
  const setup = {
    sentences: sentences.length, tokens: totalTokens, batchSizes: options.batchSizes, repeats: options.repeats,
    budgetSeconds: options.budget, quick: options.quick, referenceEngine: reference.name,
  };
  const section = raceSection(machine, setup, cells, missing, agreement);
  const [resultsFile, chartFile] = options.writeResults ?
      [path.join('benchmarks', 'RESULTS.md'), path.join('benchmarks', 'race-chart.svg')] :
      [path.join('benchmarks', 'race', 'last-results.md'), path.join('benchmarks', 'race', 'last-chart.svg')];
  writeSection(path.join(root, resultsFile), section);
  const chart = await renderChartSvg(cells, `all-MiniLM-L6-v2, ${sentences.length} sentences of mixed length` +
                                            (options.quick ? ' (smoke run)' : ''));
  fs.writeFileSync(path.join(root, chartFile), chart);
  console.log(section);
  log(`wrote ${resultsFile} (race section) and ${chartFile}` +
      (options.writeResults ? '' : ' (--write-results puts them into benchmarks/RESULTS.md and benchmarks/race-chart.svg)'));
}

main().catch(e => {
  console.error(`race failed: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
