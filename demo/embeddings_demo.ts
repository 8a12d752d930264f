/**
 * `npm run demo`: all-MiniLM-L6-v2 (the embedded default) embeds a set of
 * sentences with the original converted graph and with its BetterTransformer
 * rewrite, on tfjs-backend-cpu. Prints a similarity table, both timings, the
 * speed-up and how much padding the fused encoder skipped.
 *
 *   npm run demo
 *   npm run demo -- --input sentences.txt --output embeddings.json
 */
import '@tensorflow/tfjs-backend-cpu';
import * as fs from 'fs';
import * as tf from '@tensorflow/tfjs-core';
import {Command} from 'commander';
import {Presets, SingleBar} from 'cli-progress';
import {DEFAULT_MODEL_NAME, defaultModelDirectory, EmbedResult, SentenceEmbedder, toBetterTransformer} from 'tfjs-better-transformer/embeddings';
import {DEMO_SENTENCES} from './demo_sentences';
import {formatSimilarityTable, nearestNeighbours} from './similarity_table';
import {blankLinesNote, readSentenceFile} from './read_sentences';

interface DemoOptions {
  input?: string;
  output?: string;
  batchSize: number;
  compare: number;
  model: string;
}

/** The largest input for which the similarity table is printed. */
const MAX_TABLE_SENTENCES = 16;

function parseOptions(argv: string[]): DemoOptions {
  const positiveInt = (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`expected a positive integer, got '${v}'`);
    return n;
  };
  return new Command('npm run demo --')
      .description(`Sentence embeddings with ${DEFAULT_MODEL_NAME}: the original graph against BetterTransformer`)
      .option('--input <file>', 'embed these sentences, one a line; a blank line is an empty sentence (default: built-in examples)')
      .option('--output <file>', 'write the embeddings as a JSON array (same order as the input)')
      .option('--batch-size <n>', 'sentences per model call', positiveInt, 6)
      .option('--compare <n>', 'sentences the (slow) original graph embeds for the comparison', positiveInt, 24)
      .option('--model <dir>', 'a converted model directory with embedder.json', defaultModelDirectory())
      .parse(argv)
      .opts<DemoOptions>();
}

function readSentences(file: string | undefined): string[] {
  if (!file) return [...DEMO_SENTENCES];
  const {sentences, blankLines} = readSentenceFile(file);
  const note = blankLinesNote(file, blankLines);
  if (note) console.log(note);
  return sentences;
}

/** Embeds with a progress bar on stderr; returns the result and wall time (after one warm-up call). */
function timedEmbed(label: string, embedder: SentenceEmbedder, sentences: string[], batchSize: number):
    {result: EmbedResult; ms: number} {
  embedder.embed(sentences.slice(0, 1));
  const bar = new SingleBar({format: `${label.padEnd(18)} [{bar}] {value}/{total} sentences`, stream: process.stderr},
                            Presets.shades_classic);
  bar.start(sentences.length, 0);
  const start = performance.now();
  const result = embedder.embed(sentences, {batchSize, onProgress: done => bar.update(done)});
  const ms = performance.now() - start;
  bar.stop();
  return {result, ms};
}

function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((x, j) => { worst = Math.max(worst, Math.abs(x - b[i][j])); }));
  return worst;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv);
  await tf.setBackend('cpu');
  tf.env().set('IS_TEST', true);  // no "install tfjs-node" banner: this demo is about the cpu backend
  const sentences = readSentences(options.input);
  const embedder = SentenceEmbedder.fromDirectory(options.model);
  console.log(`${embedder.config.model} (weights: ${embedder.config.quantization}), ${sentences.length} sentences, ` +
              `batches of ${options.batchSize}, backend ${tf.getBackend()}\n`);

  let fused: SentenceEmbedder | null = null;
  let unavailable = '';
  try {
    const transformed = toBetterTransformer(embedder.model);
    const layers = (transformed.report?.fused ?? []).reduce((n, b) => n + (b.kind === 'attention' ? 0 : b.layers), 0);
    console.log(`BetterTransformer: ${layers} encoder layers fused (${transformed.report?.architecture ?? 'unknown architecture'})`);
    fused = embedder.withModel(transformed.model);
  } catch (e) {
    unavailable = (e as Error).message;
    console.log(`BetterTransformer: not available (${unavailable}); only the original graph runs`);
  }

  const compared = sentences.slice(0, options.compare);
  const original = timedEmbed('original graph', embedder, compared, options.batchSize);
  const better = fused ? timedEmbed('BetterTransformer', fused, sentences, options.batchSize) : null;
  const final = better ? better.result : compared.length === sentences.length ? original.result :
      timedEmbed('original graph', embedder, sentences, options.batchSize).result;

  if (sentences.length <= MAX_TABLE_SENTENCES) {
    console.log('\nCosine similarity\n');
    console.log(formatSimilarityTable(sentences, final.embeddings));
    const nearest = nearestNeighbours(final.embeddings);
    console.log('\nNearest neighbour: ' + nearest.map((j, i) => `S${i + 1}→S${j + 1}`).join(' '));
  }

  const perSentence = (ms: number, n: number) => `${ms.toFixed(0)} ms (${(ms / n).toFixed(1)} ms/sentence)`;
  console.log(`\noriginal graph:     ${perSentence(original.ms, compared.length)} for ${compared.length} sentences`);
  if (better) {
    const stats = better.result.stats;
    const slots = stats.realTokens + stats.paddingTokens;
    const bn = sentences.length;
    console.log(`BetterTransformer:  ${perSentence(better.ms, bn)} for ${bn} sentences`);
    const speedup = (original.ms / compared.length) / (better.ms / bn);
    console.log(`speed-up:           ${speedup.toFixed(1)}× per sentence`);
    console.log(`padding skipped:    ${stats.paddingTokens} of ${slots} token positions ` +
                `(${(100 * stats.paddingTokens / Math.max(slots, 1)).toFixed(0)}%) never reached the fused encoder layers`);
    const agreement = maxDifference(better.result.embeddings.slice(0, compared.length), original.result.embeddings);
    console.log(`agreement:          largest difference between the two models' embeddings ${agreement.toExponential(1)}`);
  } else {
    console.log(`BetterTransformer:  missing (${unavailable})`);
  }

  if (options.output) {
    fs.writeFileSync(options.output, JSON.stringify(final.embeddings.map(e => Array.from(e))));
    console.log(`\nwrote ${final.embeddings.length} embeddings of ${embedder.config.hiddenSize} floats to ${options.output}`);
  }
}

main().catch(e => {
  console.error(`demo failed: ${(e as Error).message}`);
  process.exit(1);
});
