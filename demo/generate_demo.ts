/**
 * `npm run demo:generate [-- --model DIR] [--new-tokens N]`: text generation with a key/value cache
 * against the converted graph recomputing the sequence for every token, on the cpu backend.
 *
 * No decoder language model's weights ship in a package the registries serve, so the default model
 * is the tiny random GPT-2 of test/fixtures/gpt2_lm (made by the real tensorflowjs_converter from
 * Hugging Face's TFGPT2LMHeadModel; its generation.json holds Python's own greedy tokens, which the
 * demo checks). Any converted decoder works with --model (e.g. the distilgpt2-sized random models
 * tools/decoder_bench builds into .deps/bench-decoders/<model>/tfjs). Token ids in, token ids out: the
 * CLI's `generate --tokenizer tokenizer.json` turns them into text for a real model.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer, activeImplementations} from 'tfjs-better-transformer';

function option(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

function loadModel(dir: string): GraphModel {
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
  const weightSpecs = json.weightsManifest.flatMap((g: {weights: unknown[]}) => g.weights);
  const buffers = json.weightsManifest.flatMap((g: {paths: string[]}) => g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const weightData = Buffer.concat(buffers);
  return loadGraphModelSync({
    modelTopology: json.modelTopology, weightSpecs, signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  }) as unknown as GraphModel;
}

async function timed(label: string, run: () => Promise<number[][]>, newTokens: number): Promise<number[][]> {
  const start = performance.now();
  const tokens = await run();
  const ms = performance.now() - start;
  console.log(`${label.padEnd(40)} ${(newTokens * 1000 / ms).toFixed(1).padStart(8)} tokens/s  (${ms.toFixed(0)} ms)`);
  return tokens;
}

async function main(): Promise<void> {
  await tf.setBackend('cpu');
  const dir = option('model', path.join(__dirname, '..', '..', 'test', 'fixtures', 'gpt2_lm'));
  const newTokens = Number(option('new-tokens', '32'));
  const model = loadModel(dir);
  const cached = BetterTransformer.generator(model);
  const recompute = BetterTransformer.generator(model, {cache: false});
  const r = cached.report;
  console.log(`model: ${dir}`);
  console.log(`generator: ${r.mode}${r.reason ? ` (${r.reason})` : ''}, ${r.implementation}; ` +
      `${r.architecture ? `${r.architecture.layers} layers, ${r.architecture.heads} heads, vocab ${r.architecture.vocab}` : ''}; ` +
      `verified against the graph: ${r.verification?.maxRelativeDifference.toExponential(1)}`);
  console.log(`decoder step on cpu: ${String(activeImplementations().transformerDecoderStack)}`);

  const generation = path.join(dir, 'generation.json');
  const prompt: number[] = fs.existsSync(generation) ? JSON.parse(fs.readFileSync(generation, 'utf8')).prompts[0] : [1, 2, 3, 4];
  console.log(`prompt ids: ${prompt.join(' ')}\n`);
  await cached.generate(prompt, {maxNewTokens: 2});  // warm-up
  const fast = await timed('key/value cache (BetterTransformer)', () => cached.generate(prompt, {maxNewTokens: newTokens}).then(g => g.tokens), newTokens);
  const slow = await timed('graph, whole sequence per token', () => recompute.generate(prompt, {maxNewTokens: newTokens}).then(g => g.tokens), newTokens);
  console.log(`\ngreedy ids: ${fast[0].join(' ')}`);
  console.log(`cache and recompute agree: ${JSON.stringify(fast) === JSON.stringify(slow)}`);
  if (fs.existsSync(generation)) {
    const python: number[] = JSON.parse(fs.readFileSync(generation, 'utf8')).greedySingle[0].slice(0, newTokens);
    console.log(`equal to Hugging Face's generate() in Python: ${JSON.stringify(python) === JSON.stringify(fast[0])}`);
  }
  const sampled = await cached.generate(prompt, {maxNewTokens: newTokens, temperature: 0.8, topP: 0.95, seed: 42});
  console.log(`sampled (temperature 0.8, top-p 0.95, seed 42): ${sampled.tokens[0].join(' ')}`);
  cached.dispose();
  recompute.dispose();
  model.dispose();
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
