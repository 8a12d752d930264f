/**
 * `npm run bench` (benchmarks/run.ts) leaves the committed
 * benchmarks/RESULTS.md alone unless asked with --write-results, writes
 * beside the harness to a git-ignored file otherwise, and says up front
 * roughly how long it runs.
 */
import {execFileSync} from 'child_process';
import * as path from 'path';
import {benchPlan} from '../benchmarks/bench_plan';
import type {Engine} from '../benchmarks/engines/engine';
import {resultsFile} from '../benchmarks/results_file';

const ROOT = path.join(__dirname, '..');
const full = {writeResults: false, noWrite: false, quick: false};

describe('where npm run bench writes its markdown', () => {
  test('by default beside the harness, in a git-ignored file; RESULTS.md only with --write-results', () => {
    const byDefault = resultsFile(full, ROOT);
    expect(byDefault).toEqual({file: path.join(ROOT, 'benchmarks', 'last-results.md'), committed: false,
      where: path.join('benchmarks', 'last-results.md')});
    // git check-ignore exits 0 when the path is ignored.
    expect(() => execFileSync('git', ['check-ignore', '-q', 'benchmarks/last-results.md'], {cwd: ROOT})).not.toThrow();
    expect(resultsFile({...full, quick: true, only: 'sdpa'}, ROOT).file).toBe(byDefault.file);
    expect(resultsFile({...full, writeResults: true}, ROOT)).toEqual({file: path.join(ROOT, 'benchmarks', 'RESULTS.md'),
      committed: true, where: path.join('benchmarks', 'RESULTS.md')});
    expect(resultsFile({...full, noWrite: true}, ROOT).file).toBeNull();
  });

  test.each([
    [{quick: true}, /leave out --quick/],
    [{only: 'encoder'}, /leave out --only encoder/],
    [{noWrite: true}, /leave out --no-write/],
  ])('--write-results with %o is refused: a partial run would replace the full tables', (extra, message) => {
    expect(() => resultsFile({...full, writeResults: true, ...extra}, ROOT))
        .toThrow(new RegExp(`--write-results rewrites the committed benchmarks/RESULTS.md, only from a full run: ${message.source}`));
  });
});

describe('how long npm run bench says it takes', () => {
  const engine = (name: string, attention: boolean, encoder: boolean) => ({
    name, unavailable: async () => null,
    ...(attention ? {prepareAttention: async () => ({run: () => undefined, dispose: () => undefined})} : {}),
    ...(encoder ? {prepareEncoder: async () => ({run: () => undefined, dispose: () => undefined})} : {}),
  }) as unknown as Engine;
  const engines = [engine('a', true, true), engine('b', true, true), engine('c', true, false)];

  test('rows of every size on every engine that runs it, each about the time budget', () => {
    // Full run: attention 2 batches × 3 lengths × 3 variants on 3 engines, encoder 2 batches × 2 paddings on 2.
    const plan = benchPlan(engines, {quick: false, budgetMs: 3000, maxRunSeconds: 20});
    expect(plan.rows).toBe(18 * 3 + 4 * 2);
    expect(plan.line).toMatch(/^62 result rows \(18 attention and 4 encoder sizes on 3 engines\), each timed for about 3 s after a warm-up: about 3 minutes by that budget /);
    expect(plan.line).toMatch(/sizes estimated over 20 s a run are skipped/);
    const quick = benchPlan(engines, {quick: true, only: 'sdpa', budgetMs: 1000, maxRunSeconds: 20});
    expect(quick.rows).toBe(12 * 3);
    expect(quick.line).toMatch(/about a minute by that budget/);
  });
});
