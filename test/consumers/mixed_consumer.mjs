// One process that both imports and requires the plugin: it must be a single instance.
import {createRequire} from 'node:module';
import * as esm from 'tfjs-better-transformer';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

const cjs = createRequire(import.meta.url)('tfjs-better-transformer');
if (esm.scaledDotProductAttention !== cjs.scaledDotProductAttention) {
  throw new Error('ESM and CommonJS entry points resolved to different instances');
}
const common = createRequire(import.meta.url)('./common.cjs');
common.run(tf, esm);
