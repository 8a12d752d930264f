#!/usr/bin/env node
/**
 * Loads a TensorFlow op library built with its GPU kernels (path as the
 * argument) into tfjs-node (tfjs-node-gpu with TFJS_BT_TEST_NODE_PACKAGE=
 * @tensorflow/tfjs-node-gpu), the way the package does (its
 * tensorflowOpLibraryStatus() with TFJS_BT_TENSORFLOW_OPS), and compares what it
 * registered with the op table (dist/, so `npm run build` first): every op the
 * table declares for the `tensorflow` backend must be defined, with a kernel on
 * every device it declares ('CPU', 'GPU') and on no other. Exits non-zero,
 * listing the differences, when they disagree. Used by tools/check-gpu-op-library.sh.
 */
'use strict';
const path = require('path');

const lib = process.argv[2];
if (!lib) {
  console.error('usage: check-gpu-op-library.js path/to/bt_tensorflow_ops.node');
  process.exit(2);
}
const pkg = process.env.TFJS_BT_TEST_NODE_PACKAGE || '@tensorflow/tfjs-node';
if (!['@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'].includes(pkg)) {
  console.error(`check-gpu-op-library: TFJS_BT_TEST_NODE_PACKAGE must be @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu, not ${pkg}`);
  process.exit(2);
}
require(pkg);
const dist = path.join(__dirname, '..', 'dist');
const {OPS, OP_NAMES, opNames} = require(path.join(dist, 'op_table'));
process.env.TFJS_BT_TENSORFLOW_OPS = path.resolve(lib);
const status = require(path.join(dist, 'backends', 'tensorflow', 'op_library')).tensorflowOpLibraryStatus();
if (!status.loaded) {
  console.error(`check-gpu-op-library: the op library did not load into ${pkg}: ${status.error}`);
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
console.log(`check-gpu-op-library: loaded into ${pkg}: ${status.ops.length} ops, kernels ${[...got].sort().join(', ')}: ` +
            'as the op table declares');
