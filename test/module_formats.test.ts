/**
 * The built package from CommonJS and ES module consumers, with the backend
 * imported before or after the plugin: same kernels, same results.
 * (`npm test` builds dist/ first; see the pretest script.)
 */
import {spawnSync} from 'child_process';
import * as path from 'path';

/** tfjs-backend-cpu's own advice to install tfjs-node, printed by any plain consumer: not ours to judge here. */
const TFJS_CPU_BANNER = /\n?=+\nHi, looks like you are running TensorFlow\.js in Node\.js\.[^\n]*\n=+\n?/g;

function runConsumer(file: string): {implementation: string; kernelRegistered: boolean; values: number[]} {
  const run = spawnSync(process.execPath, [path.join(__dirname, 'consumers', file)], {encoding: 'utf8'});
  if (run.status !== 0) throw new Error(`${file} exited ${run.status}: ${run.stderr}`);
  // Anything else on stderr is a problem, e.g. tfjs' "Platform node has already been set" from a second tfjs-core.
  expect(run.stderr.replace(TFJS_CPU_BANNER, '').trim()).toBe('');
  return JSON.parse(run.stdout);
}

describe('module formats and import order', () => {
  const results = ['plugin_first.cjs', 'backend_first.cjs', 'esm_consumer.mjs', 'mixed_consumer.mjs'].map(
      file => [file, runConsumer(file)] as const);

  it.each(results)('%s registers the fused cpu kernel and uses it', (_, r) => {
    expect(r.kernelRegistered).toBe(true);
    expect(['native-cpu', 'portable-typescript']).toContain(r.implementation);
    expect(r.implementation).toBe(results[0][1].implementation);
    expect(r.values).toHaveLength(6);
  });

  it('gives identical results whatever the module system or import order', () => {
    for (const [, r] of results) expect(r.values).toEqual(results[0][1].values);
  });
});
