/**
 * `npm run demo:generate [-- --prompt TEXT] [--new-tokens N] [--model DIR --tokenizer FILE]`: text in, text out
 * through BetterTransformer's cached text generator, against the converted graph recomputing the whole sequence
 * for every token, on the cpu backend.
 *
 * No decoder language model's weights ship in a package the registries serve, so the default model is the tiny
 * random GPT-2 of test/fixtures/gpt2_lm (made by the real tensorflowjs_converter from Hugging Face's
 * TFGPT2LMHeadModel with random weights; its generation.json holds Python's own greedy tokens, which the demo
 * checks) and the default tokenizer test/fixtures/demo_tokenizer (a real Hugging Face tokenizer.json whose 100 ids
 * are the fixture's vocabulary: a small BPE trained by tools/fixtures/demo_tokenizer.py). The weights are random,
 * so the text is gibberish: what the demo shows is the pipeline (text, tokenizer, cached fused decoding, text) and
 * its speed. Any converted decoder works with --model and its tokenizer.json with --tokenizer (file or folder;
 * without --tokenizer the model's folder is tried); with no tokenizer the demo runs on token ids.
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {Tokenizer} from '@huggingface/tokenizers';
import {BetterTransformer, activeImplementations} from 'tfjs-better-transformer';

const FIXTURES = path.join(__dirname, '..', '..', 'test', 'fixtures');
const DEFAULT_PROMPT = 'Four score and seven years ago';

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

/** A tokenizer.json (file or folder), with the tokenizer_config.json next to it as the CLI reads them; null if none. */
function loadTokenizer(location: string): {tokenizer: Tokenizer; file: string} | null {
  const file = fs.existsSync(location) && fs.statSync(location).isDirectory() ? path.join(location, 'tokenizer.json') : location;
  if (!fs.existsSync(file)) return null;
  const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
  const config = fs.existsSync(configFile) ? JSON.parse(fs.readFileSync(configFile, 'utf8')) : {};
  return {tokenizer: new Tokenizer(JSON.parse(fs.readFileSync(file, 'utf8')), config), file};
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
  const fixtureModel = path.join(FIXTURES, 'gpt2_lm');
  const dir = option('model', fixtureModel);
  const newTokens = Number(option('new-tokens', '32'));
  const tokenizerOption = option('tokenizer', '');
  const loaded = loadTokenizer(tokenizerOption || (path.resolve(dir) === fixtureModel ? path.join(FIXTURES, 'demo_tokenizer') : dir));
  if (tokenizerOption && !loaded) throw new Error(`--tokenizer: no tokenizer at ${tokenizerOption}`);
  const model = loadModel(dir);
  const cached = BetterTransformer.generator(model);
  const recompute = BetterTransformer.generator(model, {cache: false});
  const r = cached.report;
  console.log(`model: ${dir}`);
  console.log(`tokenizer: ${loaded ? `${loaded.file} (${loaded.tokenizer.get_vocab(true).size} tokens)` : 'none (token ids in, token ids out)'}`);
  console.log(`generator: ${r.mode}${r.reason ? ` (${r.reason})` : ''}, ${r.implementation}; ` +
      `${r.architecture ? `${r.architecture.layers} layers, ${r.architecture.heads} heads, vocab ${r.architecture.vocab}` : ''}; ` +
      `verified against the graph: ${r.verification?.maxRelativeDifference.toExponential(1)}`);
  console.log(`decoder step on cpu: ${String(activeImplementations().transformerDecoderStack)}\n`);
  if (fs.existsSync(path.join(dir, 'fixture.json'))) {
    const a = r.architecture;
    console.log(`The weights of this model are random (a tiny test fixture${a ? `, ${a.layers} layers, vocabulary ${a.vocab}` : ''}, never trained):`);
    console.log('the text it writes is gibberish. What the demo shows is the pipeline (text -> tokenizer -> cached');
    console.log("fused decoder -> tokenizer -> text) and its speed. No decoder's trained weights ship in a package the");
    console.log('registries serve; give a converted one with --model DIR --tokenizer tokenizer.json.\n');
  } else {
    console.log(`weights: as converted in ${dir} (random ones, such as tools/decoder_bench's, write gibberish too)\n`);
  }

  const generation = path.join(dir, 'generation.json');
  const python = fs.existsSync(generation) ? JSON.parse(fs.readFileSync(generation, 'utf8')) as {prompts: number[][]; greedySingle: number[][]} : null;
  const text = (ids: number[]) => (loaded ? JSON.stringify(ids.length ? loaded.tokenizer.decode(ids, {skip_special_tokens: true}) : '') : null);
  const promptText = option('prompt', DEFAULT_PROMPT);
  const prompt: number[] = loaded ? loaded.tokenizer.encode(promptText).ids : python ? python.prompts[0] : [1, 2, 3, 4];
  if (prompt.length === 0) throw new Error(`--prompt ${JSON.stringify(promptText)} gives no tokens`);
  if (loaded) console.log(`prompt: ${JSON.stringify(promptText)}`);
  console.log(`prompt ids (${prompt.length}): ${prompt.join(' ')}\n`);
  await cached.generate(prompt, {maxNewTokens: 2});  // warm-up
  const fast = await timed('key/value cache (BetterTransformer)', () => cached.generate(prompt, {maxNewTokens: newTokens}).then(g => g.tokens), newTokens);
  const slow = await timed('graph, whole sequence per token', () => recompute.generate(prompt, {maxNewTokens: newTokens}).then(g => g.tokens), newTokens);
  if (loaded) console.log(`\ngenerated text (greedy): ${text(fast[0])}`);
  console.log(`${loaded ? '' : '\n'}generated ids: ${fast[0].join(' ')}`);
  console.log(`cache and recompute agree: ${JSON.stringify(fast) === JSON.stringify(slow)}`);
  const sampled = await cached.generate(prompt, {maxNewTokens: newTokens, temperature: 0.8, topP: 0.95, seed: 42});
  console.log(`\nsampled (temperature 0.8, top-p 0.95, seed 42): ${loaded ? `${text(sampled.tokens[0])}\n  ids: ` : ''}${sampled.tokens[0].join(' ')}`);
  if (python) {
    // The fixture's own prompt: Hugging Face's generate() in Python wrote its greedy tokens into generation.json.
    const want = python.greedySingle[0].slice(0, newTokens);
    const got = (await cached.generate(python.prompts[0], {maxNewTokens: want.length})).tokens[0];
    console.log(`\nPython's prompt from generation.json: ${python.prompts[0].join(' ')}${loaded ? ` (${text(python.prompts[0])})` : ''}`);
    console.log(`  generated: ${got.join(' ')}${loaded ? ` (${text(got)})` : ''}`);
    console.log(`  equal to Hugging Face's generate() in Python: ${JSON.stringify(want) === JSON.stringify(got)}`);
  }
  cached.dispose();
  recompute.dispose();
  model.dispose();
}

main().catch(e => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
