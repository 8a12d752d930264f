/**
 * `inspect` agrees with `convert`: with the weight files next to model.json it
 * reports what convert fuses; with model.json alone it plans the same blocks
 * and lists the checks it could not make without the weights (GPT-2's causal
 * band, a mask's Tile, a gated MLP's formula) instead of reporting a refusal.
 */
import * as fs from 'fs';
import * as path from 'path';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import '../src';
import {BetterTransformer} from '../src/transform/better_transformer';
import {readModelArtifacts} from '../src/io/model_files';
import {cliTmpdir, fixtureDir, runCli} from './helpers/run_cli';

/** The report lines of the CLI's text output: what inspect and convert both print. */
function reportLines(stdout: string): string[] {
  return stdout.split('\n').filter(l => /^(architecture|fused|left alone):|^  \S/.test(l));
}

interface JsonReport {
  architecture: string | null;
  fused: Array<{kind: string; layers: number; nodes: string[]; unchecked?: string[]}>;
  skipped: Array<{nodes: string[]; reason: string}>;
}

describe('inspect agrees with convert', () => {
  // gpt2: the causal band built in the graph; bart: the encoder mask's Tile; t5v11: the gated MLP's formula.
  // Each is what transform checks on constant values, which model.json alone does not hold.
  test.each([
    ['gpt2', /the mask multiplied into the scores is the causal band: not checkable without weights/],
    ['gpt2_lm', /the mask multiplied into the scores is the causal band: not checkable without weights/],
    ['bart_seq2seq', /mask tile '.*' repeats neither the batch nor the keys: not checkable without weights/],
    ['t5v11_seq2seq', /the gated feed-forward block computes gelu_tanh\(gate\) · up: not checkable without weights/],
  ])('%s, with and without the weight files', (id, unchecked) => {
    const converted = runCli(['convert', fixtureDir(id), path.join(cliTmpdir(), 'out')]);
    expect(converted.code).toBe(0);
    const want = reportLines(converted.stdout);
    expect(want.length).toBeGreaterThan(2);

    // With the weights next to model.json: the report convert gives, line for line and node for node.
    const withWeights = runCli(['inspect', path.join(fixtureDir(id), 'model.json')]);
    expect(withWeights.code).toBe(0);
    expect(withWeights.stdout).toMatch(/^weights: read/);
    expect(reportLines(withWeights.stdout)).toEqual(want);
    const graph = loadGraphModelSync(readModelArtifacts(fixtureDir(id))) as unknown as GraphModel;
    const report = BetterTransformer.report(BetterTransformer.transform(graph))!;
    graph.dispose();
    const json = JSON.parse(runCli(['inspect', fixtureDir(id), '--json']).stdout) as JsonReport;
    expect(json).toEqual({architecture: report.architecture, fused: report.fused, skipped: report.skipped});

    // model.json alone: the same blocks, each with what could not be checked; nothing refused for it.
    const alone = cliTmpdir();
    fs.copyFileSync(path.join(fixtureDir(id), 'model.json'), path.join(alone, 'model.json'));
    const planned = runCli(['inspect', path.join(alone, 'model.json')]);
    expect(planned.code).toBe(0);
    expect(planned.stdout).toMatch(/^weights: not read \(group1-shard1of1\.bin not found\)/);
    expect(reportLines(planned.stdout).filter(l => !/^ {4}only if /.test(l))).toEqual(want);
    expect(planned.stdout).toMatch(new RegExp(`\\n {4}only if ${unchecked.source}`));
    const plannedJson = JSON.parse(runCli(['inspect', path.join(alone, 'model.json'), '--json']).stdout) as JsonReport;
    expect(plannedJson.fused.map(b => ({kind: b.kind, layers: b.layers, nodes: b.nodes}))).toEqual(report.fused);
    expect(plannedJson.fused.flatMap(b => b.unchecked ?? [])).toContainEqual(expect.stringMatching(unchecked));
    expect(plannedJson.skipped).toEqual(report.skipped);
  });

  test('--no-weights plans from the topology even where the weights are', () => {
    const r = runCli(['inspect', fixtureDir('gpt2'), '--no-weights', '--json']);
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout) as JsonReport;
    expect(json.fused.map(b => [b.kind, b.layers, b.unchecked?.length])).toEqual([['encoderStack', 2, 1]]);
    expect(runCli(['inspect', fixtureDir('gpt2'), '--no-weights']).stdout).toMatch(/^weights: not read \(--no-weights\)/);
  });
});

test('damaged weight files are one line that says how to inspect without them', () => {
  const dir = cliTmpdir();
  for (const f of ['model.json', 'group1-shard1of1.bin']) fs.copyFileSync(path.join(fixtureDir('gpt2'), f), path.join(dir, f));
  const shard = path.join(dir, 'group1-shard1of1.bin');
  fs.truncateSync(shard, fs.statSync(shard).size - 8);
  const r = runCli(['inspect', dir]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(/^tfjs-better-transformer: weights do not match the manifest: .* \(inspect --no-weights plans from model\.json alone\)\n$/);
  expect(runCli(['inspect', dir, '--no-weights']).code).toBe(0);
});
