/**
 * Soaks: the fused encoder called 2,000 times with weights that are new
 * tensors every call (training, weight updates, reloading), 200 cycles of
 * loading, transforming, running and disposing a converted model, and 200
 * generations of 10 tokens (2,000 tokens: prefills and decode steps on the
 * fused decoder stack with its key/value cache) from one generator. Tensor
 * counts must stay flat and RSS bounded: a weight's native pack is released
 * when its tensor is disposed (src/backends/cpu/native/packed_weights.ts), and
 * large packs are unmapped, not left to malloc (kernels/core/large_block.h).
 *
 * Bound: after a warm-up, RSS may grow by at most 128 MiB over the run. With
 * packs left to the garbage collector's finalizers, which Node runs only when
 * the event loop turns, the first soak grew RSS by 5.7 GiB.
 */
import {setFlagsFromString} from 'v8';
import {runInNewContext} from 'vm';
import * as tf from '@tensorflow/tfjs-core';
import {BetterTransformer, transformerEncoderLayer, TransformerEncoderLayerWeights} from '../src';
import type {GenerateOptions} from '../src/generation/generate_options';
import {randomEncoderWeights} from './helpers/encoder_weights';
import {loadFixture} from './helpers/load_fixture';
import {outputsOf} from './helpers/fixture_outputs';

const RSS_GROWTH_BOUND = 128 * 2 ** 20;
const MiB = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

// A full garbage collection before each measurement, so that RSS counts what is held, not JavaScript garbage
// the collector has not got to yet (the flag can be set at run time; a new context then sees `gc`).
setFlagsFromString('--expose_gc');
const gc = runInNewContext('gc') as () => void;

/** RSS after a full collection and a turn of the event loop (Node runs native finalizers then). */
async function settledRss(): Promise<number> {
  gc();
  await new Promise(resolve => setImmediate(resolve));
  gc();
  return process.memoryUsage().rss;
}

test('2,000 encoder calls with fresh weights each call: tensors flat, RSS bounded', async () => {
  const E = 256, F = 1024;
  const base = randomEncoderWeights(E, F, 3, true);
  const x = tf.randomNormal([2, 8, E]) as tf.Tensor3D;
  const mask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0, 0]], [2, 8], 'int32');
  // Each call's weights are new tensors (new data, so new packed weights), freed after the call.
  const call = () => tf.tidy(() => {
    const fresh: Record<string, tf.Tensor> = {};
    for (const [name, t] of Object.entries(base)) fresh[name] = tf.add(t, 0);
    transformerEncoderLayer(x, fresh as unknown as TransformerEncoderLayerWeights, {numHeads: 4, keyPaddingMask: mask}).dataSync();
  });
  for (let i = 0; i < 200; i++) call();
  const tensors = tf.memory().numTensors;
  const rss = await settledRss();
  // One synchronous run, as a training loop without awaits would make: nothing may wait for the event loop.
  for (let i = 0; i < 1800; i++) call();
  const growth = process.memoryUsage().rss - rss;
  expect(tf.memory().numTensors).toBe(tensors);
  if (growth > RSS_GROWTH_BOUND) throw new Error(`RSS grew by ${MiB(growth)} over 1,800 calls (bound ${MiB(RSS_GROWTH_BOUND)})`);
  tf.dispose([x, mask, ...Object.values(base)]);
});

test('200 load / transform / run / dispose cycles: tensors flat, RSS bounded', async () => {
  const fixture = loadFixture('bert');
  const inputs = fixture.inputs();
  const cycle = () => {
    const model = BetterTransformer.transform(fixture.loadGraphModel());
    tf.dispose(Object.values(outputsOf(model, inputs, fixture.outputNames)));
    model.dispose();
  };
  for (let i = 0; i < 20; i++) cycle();
  const tensors = tf.memory().numTensors;
  const rss = await settledRss();
  for (let i = 0; i < 180; i++) cycle();
  const growth = await settledRss() - rss;
  expect(tf.memory().numTensors).toBe(tensors);
  if (growth > RSS_GROWTH_BOUND) throw new Error(`RSS grew by ${MiB(growth)} over 180 cycles (bound ${MiB(RSS_GROWTH_BOUND)})`);
  tf.dispose(Object.values(inputs));
});

test('200 generations of 10 tokens from one generator (GPT-2 fixture, cached): tensors flat, RSS bounded', async () => {
  const before = tf.memory().numTensors;
  const fixture = loadFixture('gpt2_lm');
  const model = fixture.loadGraphModel();
  const generator = BetterTransformer.generator(model);
  expect([generator.report.mode, generator.report.reason]).toEqual(['cached', null]);
  // One prompt at a time and a batch of three (prompts of 8, 5 and 3 tokens, left-padded), greedy and sampled:
  // each generation is a prefill and 9 decode steps, on a new cache each time.
  const prompts = [[85, 64, 52, 29, 32, 6, 10, 4], [91, 51, 61, 97, 73], [82, 68, 3]];
  let tokens = 0;
  const generate = async (i: number) => {
    const options: GenerateOptions = i % 2 === 0 ? {maxNewTokens: 10} : {maxNewTokens: 10, temperature: 0.8, topK: 20, seed: i};
    const input = i % 5 === 4 ? prompts : prompts[i % prompts.length];
    const result = await generator.generate(input, options);
    for (const t of result.tokens) {
      expect(t).toHaveLength(10);
      tokens += t.length;
    }
  };
  for (let i = 0; i < 20; i++) await generate(i);
  const tensors = tf.memory().numTensors;
  const rss = await settledRss();
  tokens = 0;
  for (let i = 20; i < 220; i++) await generate(i);
  const growth = await settledRss() - rss;
  expect(tokens).toBe(2800);  // 160 single prompts and 40 batches of 3, 10 tokens each
  expect(tf.memory().numTensors).toBe(tensors);
  if (growth > RSS_GROWTH_BOUND) throw new Error(`RSS grew by ${MiB(growth)} over 200 generations (bound ${MiB(RSS_GROWTH_BOUND)})`);
  generator.dispose();
  model.dispose();
  expect(tf.memory().numTensors).toBe(before);
});
