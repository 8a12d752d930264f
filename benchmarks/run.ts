/**
 * `npm run bench [-- --quick] [-- --only sdpa|encoder] [-- --json FILE] [-- --write-results | --no-write]`
 * Runs the attention and encoder suites over every available engine in one
 * process. Before the suites it prints roughly how long they take
 * (bench_plan.ts), then numbers each result line as it comes.
 *
 * The markdown (machine, date, medians, ratios) goes beside the harness, to
 * benchmarks/last-results.md (git-ignored), and the run says where. Only
 * --write-results rewrites the committed benchmarks/RESULTS.md (keeping the
 * sections other tools write there), and only from a full run: a --quick or
 * --only run would replace the full tables with partial ones. --no-write
 * writes no markdown at all.
 *
 *   npm run bench                          # results in benchmarks/last-results.md
 *   npm run bench -- --quick --only sdpa   # a smoke run
 *   npm run bench -- --write-results       # a full run into benchmarks/RESULTS.md
 */
import * as fs from 'fs';
import {parseArgs} from 'util';
import * as tf from '@tensorflow/tfjs-core';
import {activeImplementations} from '../src';
import {Engine} from './engines/engine';
import {OrtEngine} from './engines/ort_engine';
import {TfjsEngine} from './engines/tfjs_engine';
import {describeMachine, repoRoot} from './machine';
import {benchPlan} from './bench_plan';
import {machineSection, markdownTable, ResultRow} from './results';
import {resultsFile} from './results_file';
import {runAttentionSuite, runEncoderSuite} from './suites';

/**
 * Sections of RESULTS.md that other tools write (the GPU check, the sentence
 * embeddings race) are kept: everything from the first of them to the end.
 */
function keptSections(file: string): string {
  if (!fs.existsSync(file)) return '';
  const old = fs.readFileSync(file, 'utf8');
  const starts = ['\n## GPU', '\n<!-- race:begin'].map(m => old.indexOf(m)).filter(i => i >= 0);
  return starts.length ? old.slice(Math.min(...starts)) : '';
}

async function main(): Promise<void> {
  const {values} = parseArgs({
    options: {
      quick: {type: 'boolean', default: false},
      only: {type: 'string'},
      json: {type: 'string'},
      'write-results': {type: 'boolean', default: false},
      'no-write': {type: 'boolean', default: false},
      'max-run-seconds': {type: 'string', default: '20'},
    },
  });
  if (values.only && !['sdpa', 'encoder'].includes(values.only)) throw new Error(`--only must be sdpa or encoder`);
  const out = resultsFile({writeResults: values['write-results'], noWrite: values['no-write'], quick: values.quick, only: values.only},
                          repoRoot());
  tf.env().set('IS_TEST', true);  // no "install tfjs-node" banner
  const log = (line: string) => console.log(line);

  require('@tensorflow/tfjs-backend-cpu');
  await tf.setBackend('cpu');
  const fusedName = `tfjs cpu fused (${activeImplementations('cpu').transformerEncoderLayer})`;
  const candidates: Engine[] = [
    new TfjsEngine(fusedName, 'cpu', 'auto'),
    new OrtEngine(),
    new TfjsEngine('tfjs-node fused (tensorflow-op-library)', 'tensorflow', 'auto'),
    new TfjsEngine('tfjs-node unfused', 'tensorflow', 'composite'),
    new TfjsEngine('tfjs wasm unfused', 'wasm', 'composite'),
    new TfjsEngine('tfjs cpu fused (portable-typescript)', 'cpu', 'portable'),
    new TfjsEngine('tfjs cpu unfused', 'cpu', 'composite'),
  ].filter((e, i, all) => all.findIndex(o => o.name === e.name) === i);
  const engines: Engine[] = [];
  const missing: string[] = [];
  for (const engine of candidates) {
    const why = await engine.unavailable();
    if (why) missing.push(`${engine.name}: ${why}`);
    else engines.push(engine);
  }
  missing.forEach(m => log(`not benchmarked: ${m}`));

  const budgetMs = values.quick ? 1000 : 3000;
  const maxRunSeconds = Number(values['max-run-seconds']);
  const plan = benchPlan(engines, {quick: values.quick, only: values.only, budgetMs, maxRunSeconds});
  log(`about to measure ${plan.line}; results to ${out.where}`);

  log('measuring the machine (FMA probe)...');
  const machine = describeMachine();
  log(machineSection(machine));

  let done = 0;
  const numbered = (line: string) => log(/^(sdpa|encoder) /.test(line) ? `[${++done}/${plan.rows}] ${line}` : line);
  const options = {maxRunSeconds, budgetMs, quick: values.quick, log: numbered};
  const rows: ResultRow[] = [];
  if (values.only !== 'encoder') rows.push(...await runAttentionSuite(engines, options));
  if (values.only !== 'sdpa') rows.push(...await runEncoderSuite(engines, options));

  const report = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (benchmarks/run.ts). Times are medians of repeated runs after a warm-up;',
    '"GFLOP/s (useful)" counts only real tokens and visible (query, key) pairs, the same numerator for every',
    'engine; "fused speed-up" is the engine\'s time divided by the fused plugin\'s time in the same row group.',
    '',
    machineSection(machine),
    ...(missing.length ? ['', ...missing.map(m => `- not benchmarked: ${m}`)] : []),
    values.quick ? '\n(quick run: fewer sizes and shorter budgets)' : '',
    '',
    markdownTable(rows, machine, fusedName),
  ].join('\n');
  if (out.file) {
    // RESULTS.md keeps the sections other tools write; last-results.md holds this run alone.
    fs.writeFileSync(out.file, out.committed ? `${report}\n${keptSections(out.file)}` : `${report}\n`);
    log(`wrote ${out.where}${out.committed ? '' : ' (benchmarks/RESULTS.md is rewritten only with --write-results)'}`);
  }
  if (values.json) {
    fs.writeFileSync(values.json, JSON.stringify({machine, rows}, null, 2));
    log(`wrote ${values.json}`);
  }
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
