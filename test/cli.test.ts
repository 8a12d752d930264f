/**
 * The tfjs-better-transformer CLI, run as a user would (node dist/cli/main.js;
 * `npm test` builds dist first): inspect's JSON contract, convert's output
 * loading with the package, bench's parity, and one-line errors.
 */
import {spawnSync} from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import '../src';
import {readModelArtifacts} from '../src/io/model_files';
import {FIXTURES_DIR, loadFixture} from './helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';

const CLI = path.join(__dirname, '..', 'dist', 'cli', 'main.js');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], {encoding: 'utf8', env: {...process.env, TF_CPP_MIN_LOG_LEVEL: '3'}});
  return {code: r.status, stdout: r.stdout, stderr: r.stderr.split('\n').filter(l => !/^\s*$|npm warn|cpu_feature_guard|oneDNN|rebuild TensorFlow/.test(l))};
}

function tmpdir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bt-cli-'));
}

describe('tfjs-better-transformer CLI', () => {
  test('inspect --json gives the stable report contract', () => {
    const r = cli('inspect', path.join(FIXTURES_DIR, 'bert', 'model.json'), '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(Object.keys(report).sort()).toEqual(['architecture', 'fused', 'skipped']);
    expect(typeof report.architecture).toBe('string');
    expect(report.fused).toHaveLength(1);
    for (const block of report.fused) {
      expect(Object.keys(block).sort()).toEqual(['kind', 'layers', 'nodes']);
      // Both layers run as one stack (padding removed once).
      expect(block.kind).toBe('encoderStack');
      expect(block.layers).toBe(2);
      expect(block.nodes.every((n: unknown) => typeof n === 'string')).toBe(true);
    }
    expect(Array.isArray(report.skipped)).toBe(true);
  });

  test('inspect explains a refused model', () => {
    const r = cli('inspect', path.join(FIXTURES_DIR, 't5_encoder'), '--json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.fused).toHaveLength(0);
    expect(report.skipped[0].reason).toMatch(/relative attention bias/);
    const text = cli('inspect', path.join(FIXTURES_DIR, 't5_encoder'));
    expect(text.stdout).toMatch(/left alone: 2/);
  });

  test('convert writes a model that loads with the package and matches the reference', () => {
    const out = tmpdir();
    const r = cli('convert', path.join(FIXTURES_DIR, 'bert'), out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/require\('tfjs-better-transformer'\)/);
    const fixture = loadFixture('bert');
    const model = loadGraphModelSync(readModelArtifacts(out)) as unknown as GraphModel;
    const inputs = fixture.inputs();
    const outputs = outputsOf(model, inputs, fixture.outputNames);
    const want = fixture.referenceOutput(fixture.outputNames[0]);
    expect(relativeErrorOnTokens(outputs[fixture.outputNames[0]], want, validTokensOf(fixture.reference))).toBeLessThan(1e-4);
    tf.dispose([want, ...Object.values(outputs), ...Object.values(inputs)]);
    model.dispose();
  });

  test('bench reports timings and parity as JSON', () => {
    const json = path.join(tmpdir(), 'bench.json');
    const r = cli('bench', path.join(FIXTURES_DIR, 'bert'), '--batch', '2', '--seq', '8', '--padding', '0.4', '--runs', '2',
        '--backend', 'cpu', '--json', json);
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result.originalMs).toBeGreaterThan(0);
    expect(result.transformedMs).toBeGreaterThan(0);
    expect(result.maxRelativeDifference).toBeLessThan(1e-4);
    expect(result.fused).toEqual([{kind: 'encoderStack', layers: 2}]);
  });

  test.each([
    ['a missing model', ['inspect', '/no/such/model.json'], /no model at/],
    ['malformed JSON', ['inspect', 'MALFORMED'], /not valid JSON/],
    ['weights that do not match the manifest', ['convert', 'TRUNCATED', 'OUT'], /weights do not match the manifest/],
    ['an unknown command', ['frobnicate'], /unknown command/],
    ['a bad option value', ['bench', path.join(FIXTURES_DIR, 'bert'), '--batch', 'zero'], /--batch must be a positive integer/],
  ])('%s is one clear line and a non-zero exit', (_, args, message) => {
    const dir = tmpdir();
    fs.writeFileSync(path.join(dir, 'bad.json'), '{"modelTopology": ');
    const truncated = path.join(dir, 'truncated');
    fs.mkdirSync(truncated);
    for (const f of fs.readdirSync(path.join(FIXTURES_DIR, 'bert'))) fs.copyFileSync(path.join(FIXTURES_DIR, 'bert', f), path.join(truncated, f));
    const shard = path.join(truncated, 'group1-shard1of1.bin');
    fs.truncateSync(shard, fs.statSync(shard).size - 8);
    const argv = args.map(a => (a === 'MALFORMED' ? path.join(dir, 'bad.json') : a === 'TRUNCATED' ? truncated : a === 'OUT' ? path.join(dir, 'out') : a));
    const r = cli(...argv);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toHaveLength(1);
    expect(r.stderr[0]).toMatch(message);
    expect(r.stderr.join('\n')).not.toMatch(/\n\s+at /);
  });
});
