#!/usr/bin/env node
/**
 * Install step: builds the native core addon (or finds a prebuild) with
 * node-gyp-build. A failed build is not a failed install: the package then
 * runs its portable TypeScript kernels and says so once when loaded.
 */
'use strict';
const {spawnSync} = require('child_process');
const fs = require('fs');
const path = require('path');

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return null;
}

const root = path.join(__dirname, '..');
let bin;
try {
  bin = require.resolve('node-gyp-build/bin.js', {paths: [root]});
} catch {
  console.warn('tfjs-better-transformer: node-gyp-build is not installed; using the portable TypeScript kernels');
  process.exit(0);
}
// node-gyp-build runs `node-gyp` from PATH. Under npm that is npm's bundled copy
// (node-gyp-bin); when this script runs by hand, put that folder on PATH too.
const env = {...process.env};
for (const npmCli of [process.env.npm_execpath, findOnPath('npm')]) {
  if (!npmCli) continue;
  const gypBin = path.join(path.dirname(fs.realpathSync(npmCli)), 'node-gyp-bin');
  if (fs.existsSync(gypBin)) {
    env.PATH = `${gypBin}${path.delimiter}${env.PATH}`;
    break;
  }
}
// Node's headers: npm's nodedir if set, else this node's own prefix when it ships
// them (distribution packages do), so node-gyp never needs to download them.
if (!env.npm_config_nodedir) {
  const prefix = path.resolve(process.execPath, '..', '..');
  if (fs.existsSync(path.join(prefix, 'include', 'node', 'common.gypi'))) env.npm_config_nodedir = prefix;
}
// node-gyp's log is hundreds of lines: kept, and shown only when the build fails (or with
// TFJS_BT_VERBOSE_INSTALL=1), so a normal install prints one line.
const verbose = process.env.TFJS_BT_VERBOSE_INSTALL === '1';
const started = Date.now();
const result = spawnSync(process.execPath, [bin], {
  cwd: root, env, encoding: 'utf8', stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20,
});
const seconds = ((Date.now() - started) / 1000).toFixed(0);
if (result.status === 0) {
  console.log(`tfjs-better-transformer: native core ready (${seconds} s)`);
} else {
  if (!verbose) {
    const log = `${result.stdout || ''}${result.stderr || ''}`.trimEnd().split('\n');
    console.warn(log.slice(-40).join('\n'));
  }
  console.warn('tfjs-better-transformer: the native addon did not build (log above); the portable TypeScript ' +
               'kernels will be used, about 80x slower. Fix the cause, then: npm rebuild tfjs-better-transformer');
}
process.exit(0);
