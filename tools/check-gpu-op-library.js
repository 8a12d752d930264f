#!/usr/bin/env node
/**
 * Loads a TensorFlow op library built with its GPU kernels (path as the
 * argument) into tfjs-node and compares what it registered with the op table
 * (dist/op_table, so `npm run build` first): every op the table declares for
 * the `tensorflow` backend must be defined, with a kernel on every device it
 * declares ('CPU', 'GPU') and on no other. Exits non-zero, listing the
 * differences, when they disagree. Used by tools/check-gpu-op-library.sh.
 */
'use strict';
const path = require('path');

const lib = process.argv[2];
if (!lib) {
  console.error('usage: check-gpu-op-library.js path/to/bt_tensorflow_ops.node');
  process.exit(2);
}
require('@tensorflow/tfjs-node');
const {OPS, OP_NAMES, opNames} = require(path.join(__dirname, '..', 'dist', 'op_table'));
const status = require(path.resolve(lib));
if (!status.ok) {
  console.error(`check-gpu-op-library: registration failed: ${status.error}`);
  process.exit(1);
}
const want = new Set();
const wantOps = new Set();
for (const op of OP_NAMES) {
  for (const device of OPS[op].kernels.tensorflow ?? []) {
    want.add(`${opNames(op).tensorflowOp}/${device}`);
    wantOps.add(opNames(op).tensorflowOp);
  }
}
const got = new Set(status.kernels.map(k => `${k.op}/${k.device}`));
const missing = [...want].filter(k => !got.has(k));
const extra = [...got].filter(k => !want.has(k));
const opsDiffer = JSON.stringify([...wantOps].sort()) !== JSON.stringify([...status.ops].sort());
for (const k of missing) console.error(`check-gpu-op-library: the op table declares ${k}, the library registers no such kernel`);
for (const k of extra) console.error(`check-gpu-op-library: the library registers ${k}, which the op table does not declare`);
if (opsDiffer) console.error(`check-gpu-op-library: ops ${status.ops.join(', ')} differ from the table's ${[...wantOps].join(', ')}`);
if (missing.length > 0 || extra.length > 0 || opsDiffer) process.exit(1);
console.log(`check-gpu-op-library: ${status.ops.length} ops, kernels ${[...got].sort().join(', ')}: as the op table declares`);
