#!/usr/bin/env node
/**
 * Installs what only the benchmarks need (benchmarks/package.json: onnxruntime-node, transformers.js,
 * onnx-proto, vega) into benchmarks/node_modules, from benchmarks/package-lock.json, when that lock changed
 * since the last install. The package's own `npm ci` does not install them: they are large, only the
 * benchmarks race them, and onnxruntime-node's install script would fetch CUDA libraries by default (here
 * ONNXRUNTIME_NODE_INSTALL=skip; its CPU build ships in the package).
 *
 * The bench scripts and `npm run lint:types` run this first:
 *   node tools/bench-deps.js
 */
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const {spawnSync} = require('child_process');

const dir = path.join(__dirname, '..', 'benchmarks');
const lock = path.join(dir, 'package-lock.json');
const stamp = path.join(dir, 'node_modules', '.bench-deps-lock-sha256');

const want = crypto.createHash('sha256').update(fs.readFileSync(lock)).digest('hex');
const have = fs.existsSync(stamp) ? fs.readFileSync(stamp, 'utf8').trim() : null;
if (have === want) process.exit(0);

console.log('Installing the benchmarks\' own dependencies into benchmarks/node_modules (once per lock change, about 15 s)…');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const result = spawnSync(npm, ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
  cwd: dir,
  stdio: 'inherit',
  env: {...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip'},
});
if (result.status !== 0) {
  console.error(`tools/bench-deps.js: npm ci in benchmarks/ failed (${result.error ? result.error.message : `exit ${result.status}`})`);
  process.exit(1);
}
fs.writeFileSync(stamp, want + '\n');
