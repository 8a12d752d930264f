#!/usr/bin/env node
'use strict';
// Smoke test for @tensorflow/tfjs-node as set up by tools/setup-tfjs-node.sh (or, with
// --package @tensorflow/tfjs-node-gpu, tfjs-node-gpu as set up by tools/setup-tfjs-node-gpu.sh):
// one shared @tensorflow/tfjs-core, the native 'tensorflow' backend active,
// and a few ops (matMul, softmax, conv2d, tf.grad) numerically right.
// Exits 0 on success, 1 on any failure. Run from anywhere:
//   node tools/check-tfjs-node.js [--package @tensorflow/tfjs-node-gpu]
// TFJS_NODE_EXPECT_TF_VERSION=2.15.1 additionally checks libtensorflow's version;
// TFJS_NODE_EXPECT_GPU=1 requires the ops to run on a GPU (0: on the CPU device).

const fs = require('fs');
const path = require('path');

const root = path.resolve(__dirname, '..');
const PACKAGES = {
  '@tensorflow/tfjs-node': 'tools/setup-tfjs-node.sh',
  '@tensorflow/tfjs-node-gpu': 'tools/setup-tfjs-node-gpu.sh',
};
const argv = process.argv.slice(2);
const pkg = argv[0] === '--package' ? argv[1] : argv.length === 0 ? '@tensorflow/tfjs-node' : null;
if (!(pkg in PACKAGES) || argv.length > 2) {
  console.error(`usage: check-tfjs-node.js [--package ${Object.keys(PACKAGES).join('|')}]`);
  process.exit(2);
}
const failures = [];
const fail = (msg) => failures.push(msg);
const log = (msg) => console.log(`[check-tfjs-node] ${msg}`);

function finish() {
  if (failures.length) {
    for (const f of failures) console.error(`[check-tfjs-node] FAIL: ${f}`);
    process.exit(1);
  }
  log('OK');
  process.exit(0);
}

function resolveFrom(dir, request) {
  try {
    return fs.realpathSync(require.resolve(request, { paths: [dir] }));
  } catch (e) {
    return null;
  }
}

// --- 1. package layout: exactly one @tensorflow/tfjs-core ---------------------
const nodePkgJson = resolveFrom(root, `${pkg}/package.json`);
if (!nodePkgJson) {
  fail(`${pkg} is not installed; run ${PACKAGES[pkg]}`);
  finish();
}
const nodeDir = path.dirname(nodePkgJson);
const nodeVersion = require(nodePkgJson).version;

const coreFromRoot = resolveFrom(root, '@tensorflow/tfjs-core/package.json');
const dependents = [
  nodeDir,
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-converter',
  '@tensorflow/tfjs-data',
  '@tensorflow/tfjs-layers',
];
for (const dep of dependents) {
  const dir = path.isAbsolute(dep)
    ? dep
    : (() => {
        const pj = resolveFrom(nodeDir, `${dep}/package.json`);
        return pj && path.dirname(pj);
      })();
  if (!dir) {
    fail(`${dep} cannot be resolved from ${pkg}`);
    continue;
  }
  const core = resolveFrom(dir, '@tensorflow/tfjs-core/package.json');
  if (core !== coreFromRoot) {
    fail(`${path.relative(root, dir)} resolves @tensorflow/tfjs-core to ${core}, ` +
         `the project uses ${coreFromRoot}: two copies of tfjs-core`);
  }
}
const coreVersion = coreFromRoot && require(coreFromRoot).version;
if (coreVersion !== nodeVersion) {
  fail(`@tensorflow/tfjs-core is ${coreVersion} but ${pkg} is ${nodeVersion}`);
}
if (failures.length) finish();

// --- 2. load it -----------------------------------------------------------------
let tf;
const t0 = process.hrtime.bigint();
try {
  tf = require(nodeDir);
} catch (e) {
  fail(`require('${pkg}') threw: ${e && e.stack || e}`);
  finish();
}
const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;

const loadedCores = Object.keys(require.cache).filter((f) =>
  /[\\/]@tensorflow[\\/]tfjs-core[\\/]package\.json$/.test(f) ||
  /[\\/]@tensorflow[\\/]tfjs-core[\\/]dist[\\/](index|tf-core\.node)\.js$/.test(f));
const coreDirs = new Set(loadedCores.map((f) => f.split(/[\\/]dist[\\/]|[\\/]package\.json$/)[0]));
if (coreDirs.size !== 1) fail(`tfjs-core loaded from ${coreDirs.size} places: ${[...coreDirs]}`);

const backend = tf.getBackend();
const tfVersion = tf.backend().binding && tf.backend().binding.TF_Version;
// The binding runs every op on the first GPU TensorFlow lists, else on the CPU device.
const device = tf.backend().isUsingGpuDevice ? 'GPU' : 'CPU';
log(`loaded in ${loadMs.toFixed(0)} ms; ${pkg.replace('@tensorflow/', '')} ${nodeVersion}, ` +
    `tfjs-core ${tf.version['tfjs-core']}, libtensorflow ${tfVersion}, backend '${backend}', device ${device}`);
if (backend !== 'tensorflow') fail(`tf.getBackend() is '${backend}', expected 'tensorflow'`);
else if (tf.backend().isGPUPackage !== (pkg === '@tensorflow/tfjs-node-gpu')) {
  fail(`the 'tensorflow' backend was not created by ${pkg}`);
}
const wantTf = process.env.TFJS_NODE_EXPECT_TF_VERSION;
if (wantTf && tfVersion !== wantTf) fail(`libtensorflow version is ${tfVersion}, expected ${wantTf}`);
const wantGpu = process.env.TFJS_NODE_EXPECT_GPU;
if (wantGpu === '1' && device !== 'GPU') {
  fail('the ops run on the CPU device, expected a GPU (TensorFlow logs why at start-up: ' +
       'run with TF_CPP_MIN_LOG_LEVEL=0; see tools/setup-tfjs-node-gpu.md)');
}
if (wantGpu === '0' && device !== 'CPU') fail(`the ops run on the ${device} device, expected the CPU`);

// --- 3. ops -------------------------------------------------------------------
function expectClose(name, tensor, expected, tol = 1e-5) {
  const actual = Array.from(tensor.dataSync());
  const flat = [expected].flat(Infinity);
  const ok = actual.length === flat.length &&
    actual.every((v, i) => Math.abs(v - flat[i]) <= tol * Math.max(1, Math.abs(flat[i])));
  if (!ok) fail(`${name}: got [${actual}], expected [${flat}]`);
  else log(`${name}: ok`);
}

if (backend === 'tensorflow') {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const a = tf.tensor2d([[1, 2], [3, 4]]);
    const b = tf.tensor2d([[5, 6, 7], [8, 9, 10]]);
    expectClose('matMul', tf.matMul(a, b), [[21, 24, 27], [47, 54, 61]]);

    const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]]);
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const s = e[0] + e[1] + e[2];
    expectClose('softmax', tf.softmax(logits), [e.map((x) => x / s), [1 / 3, 1 / 3, 1 / 3]]);

    // 1x3x3x1 input 1..9, 2x2 filter of ones, stride 1, 'valid' -> sums of 2x2 windows.
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const w = tf.ones([2, 2, 1, 1]);
    expectClose('conv2d', tf.conv2d(x, w, 1, 'valid'), [12, 16, 24, 28]);

    // d/dx sum(x^3 + sin x) = 3x^2 + cos x
    const g = tf.grad((v) => tf.add(tf.pow(v, 3), tf.sin(v)).sum());
    const xs = [-1, 0.5, 2];
    expectClose('grad', g(tf.tensor1d(xs)), xs.map((v) => 3 * v * v + Math.cos(v)));
  });
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) fail(`${leaked} tensors leaked`);
}

finish();
