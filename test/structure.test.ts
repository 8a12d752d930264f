/**
 * The structure a newcomer relies on (.dependency-cruiser.cjs states the
 * rules): no import cycles in src/, every module imports only from its own
 * layer or lower ones, library code never imports the CLI, the demo,
 * benchmarks, tests or tools, and every module of src/ belongs to a layer.
 */
import {execFileSync} from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

const ROOT = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const {LAYERS} = require('../.dependency-cruiser.cjs') as {LAYERS: Array<{name: string; path: string}>};

interface Violation {
  from: string;
  to: string;
  rule: {name: string};
  cycle?: Array<{name: string}>;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(path.join(ROOT, dir), {withFileTypes: true}).flatMap(entry => {
    const rel = `${dir}/${entry.name}`;
    return entry.isDirectory() ? sourceFiles(rel) : rel.endsWith('.ts') ? [rel] : [];
  });
}

test('src/ has no import cycles and no import from a lower layer to a higher one', () => {
  const cli = path.join(ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
  const out = execFileSync(process.execPath, [cli, 'src', '--config', '.dependency-cruiser.cjs', '--output-type', 'json'], {
    cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20,
  });
  const result = JSON.parse(out) as {summary: {violations: Violation[]; totalCruised: number}};
  const describe = (v: Violation) =>
    `${v.rule.name}: ${v.from} -> ${v.to}${v.cycle ? ` (cycle ${v.cycle.map(c => c.name).join(' -> ')})` : ''}`;
  expect(result.summary.violations.map(describe)).toEqual([]);
  expect(result.summary.totalCruised).toBeGreaterThan(100);
});

test('every module of src/ belongs to exactly one layer', () => {
  for (const file of sourceFiles('src')) {
    const layers = LAYERS.filter(l => new RegExp(l.path).test(file)).map(l => l.name);
    expect([file, layers.length]).toEqual([file, 1]);
  }
});
