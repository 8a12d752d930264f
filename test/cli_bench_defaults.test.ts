/**
 * `bench` as a new user meets it: on its defaults it runs every fixture, with
 * --seq no longer than the model's positions (64 in the fixtures: 128 would
 * fail inside a Gather), layers models included; a size the model cannot take
 * is one line naming the limit and the flag; it says how long it takes.
 */
import * as fs from 'fs';
import * as path from 'path';
import {cliTmpdir, fixtureDir, nonBlankLines, runCli} from './helpers/run_cli';

describe('bench on its defaults', () => {
  test.each(['bert', 'distilbert'])('%s (64 positions): --seq defaults to 64, says why and how long it takes', id => {
    const json = path.join(cliTmpdir(), 'bench.json');
    const r = runCli(['bench', fixtureDir(id), '--batch', '1', '--runs', '1', '--backend', 'cpu', '--json', json]);
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result).toMatchObject({seq: 64, positions: 64, batch: 1, format: 'graph model'});
    expect(result.maxRelativeDifference).toBeLessThan(1e-4);
    expect(r.stderr).toMatch(/seq 64: the model takes at most 64 positions \(the position table .* has 64 rows\)/);
    expect(r.stderr).toMatch(/warm-up run took \d+ ms; the rest takes roughly [\d.]+ (s|min) if every run takes as long/);
    expect(r.stdout).toMatch(/^backend cpu, batch 1, seq 64, padding 0\n/);
  });

  test('a --seq longer than the model takes is one line naming the limit and the flag', () => {
    const r = runCli(['bench', fixtureDir('bert'), '--seq', '128', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(nonBlankLines(r.stderr)).toEqual([expect.stringMatching(
        /^tfjs-better-transformer: --seq 128 is longer than the model takes: at most 64 positions \(.*\); give --seq 64 or less$/)]);
  });

  test('learned positions read from an offset (RoBERTa reads position p at row p + 2) take two fewer', () => {
    const r = runCli(['bench', fixtureDir('roberta'), '--seq', '63', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--seq 63 is longer than the model takes: at most 62 positions \(.* has 64 rows, from row 2 on\)/);
  });

  test('a layers model is benched (its MultiHeadAttention layers on the fused op)', () => {
    const json = path.join(cliTmpdir(), 'bench.json');
    const r = runCli(['bench', fixtureDir('keras_mha'), '--batch', '2', '--seq', '8', '--runs', '1', '--backend', 'cpu', '--json', json]);
    expect(r.code).toBe(0);
    const result = JSON.parse(fs.readFileSync(json, 'utf8'));
    expect(result).toMatchObject({format: 'layers model', batch: 2, seq: 8});
    expect(result.fused).toEqual([{kind: 'attention', layers: 1}, {kind: 'attention', layers: 1}]);
    expect(result.maxRelativeDifference).toBeLessThan(1e-4);
  });

  test("a layers model's position embedding limits --seq too", () => {
    const r = runCli(['bench', fixtureDir('keras_decoder'), '--seq', '200', '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--seq 200 is longer than the model takes: at most 128 positions \(its position embedding 'position_embedding' has 128 rows\); give --seq 128 or less/);
  });

  test.each([
    ['bert_static', ['--batch', '8'], /--batch 8: the model's inputs have a fixed batch of 3 \(.*\[3, 8\]\); leave --batch out/],
    ['vit', ['--seq', '8'], /--seq 8: the model's inputs have no sequence axis to set \('pixel_values' \[-1, 3, 16, 16\]\); leave --seq out/],
    ['vit', ['--padding', '0.3'], /--padding 0.3: the model has no attention-mask input/],
  ])('%s %s: a size the model fixes is refused, naming the flag', (id, args, message) => {
    const r = runCli(['bench', fixtureDir(id), ...args, '--backend', 'cpu']);
    expect(r.code).toBe(1);
    expect(nonBlankLines(r.stderr)).toEqual([expect.stringMatching(message)]);
  });
});
