/**
 * `generate <model>`: token generation from a converted decoder-only graph
 * model with BetterTransformer.generator, from prompts given as token ids
 * (or as text through a tokenizer.json, with --tokenizer). Prints the new
 * tokens of each sequence and how they were made (cached fused step or graph
 * recomputed per token, and why), as text or as JSON; --stream prints them as
 * they come.
 *
 * Option values are checked while the command line is parsed (a usage error:
 * one line naming the option, exit 2); what only the model can tell (a token
 * id outside its vocabulary, a sequence longer than it takes) fails after
 * loading, in one line naming the option too (exit 1).
 */
import * as fs from 'fs';
import * as path from 'path';
import {Command, InvalidArgumentError, Option} from 'commander';
import {loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {Tokenizer} from '@huggingface/tokenizers';
import {BetterTransformer} from '../transform/better_transformer';
import type {FinishReason, GenerateOptions, AnyGenerator, GenerationResult, GenerationStep} from '../generation/generator';
import type {Seq2SeqGenerateOptions} from '../generation/seq2seq_options';
import {BetterTransformerArgumentError} from '../errors';
import {readModelArtifacts} from '../io/model_files';
import {applyGpuPrecision, GPU_PRECISION_CHOICES, GPU_PRECISION_HELP, prepareBackend} from './backend';
import {getGpuPrecision} from '../config';

export interface GenerateCommandOptions {
  promptIds?: number[][];
  prompt?: string[];
  tokenizer?: string;
  maxNewTokens: number;
  cache: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  seed?: number;
  stopTokens?: number[];
  weightPrecision: 'float32' | 'bfloat16';
  backend?: 'cpu' | 'tensorflow';
  gpuPrecision?: string;
  json?: boolean;
  stream?: boolean;
  numBeams?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean;
  decoderStartTokenId?: number;
  forcedBosTokenId?: number;
  forcedEosTokenId?: number;
  minNewTokens?: number;
}

/** What --json prints: the totals first (tokens: each sequence's new tokens), then the details. */
export interface GenerateCommandResult {
  tokens: number[][];
  promptTokens: number;
  newTokens: number;
  /** Wall time per decode step (one new token for every running sequence), the prefill included. */
  msPerToken: number;
  tokensPerSecond: number;
  mode: 'cached' | 'recompute';
  /** Why the generator recomputes (null in cached mode). */
  reason: string | null;
  backend: string;
  /** The GPU precision in effect (it matters on tfjs-node-gpu only). */
  gpuPrecision: string;
  weightPrecision: 'float32' | 'bfloat16';
  sequences: Array<{prompt: number[]; tokens: number[]; finishReason: FinishReason; text?: string}>;
  timing: {steps: number; newTokens: number; ms: number; firstTokenMs: number | null; tokensPerSecond: number};
}

/** The generator's own default for GeneratorOptions.maxLength. */
const DEFAULT_MAX_LENGTH = 4096;

// ---- option parsers (commander argParser: an InvalidArgumentError becomes a one-line usage error naming the option)

const INTEGER = /^\d+$/;
const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function integerAtLeast(min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const s = value.trim();
    const n = Number(s);
    if (!INTEGER.test(s) || n < min || n > max) {
      throw new InvalidArgumentError(`expected an integer ${max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`}`);
    }
    return n;
  };
}

function numberIn(test: (x: number) => boolean, range: string) {
  return (value: string): number => {
    const s = value.trim();
    const n = Number(s);
    if (!NUMBER.test(s) || !Number.isFinite(n) || !test(n)) throw new InvalidArgumentError(`expected a number ${range}`);
    return n;
  };
}

/** "1,2,3" (commas and/or spaces) to token ids. */
function tokenIds(value: string): number[] {
  const parts = value.split(/[\s,]+/).filter(p => p !== '');
  if (parts.length === 0) throw new InvalidArgumentError('expected token ids such as "1,2,3"');
  return parts.map(p => {
    if (!INTEGER.test(p) || !Number.isSafeInteger(Number(p))) throw new InvalidArgumentError(`'${p}' is not a token id (a non-negative integer)`);
    return Number(p);
  });
}

function appendIds(value: string, previous: number[][] | undefined): number[][] {
  return [...(previous ?? []), tokenIds(value)];
}

function appendText(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function concatIds(value: string, previous: number[] | undefined): number[] {
  return [...(previous ?? []), ...tokenIds(value)];
}

const HELP_AFTER = `
Prompts are token ids: the CLI has no tokenizer of its own. Give one
--prompt-ids per sequence; repeating it makes a batch (prompts of different
lengths need no padding). The output is the new token ids of each sequence.
With --tokenizer <tokenizer.json> (a Hugging Face tokenizer file; its
tokenizer_config.json is read from the same folder when there), prompts can be
given as text with --prompt and the new tokens are decoded to text as well.

Decoding is greedy unless --temperature, --top-k, --top-p or --seed is given
(then it samples, as Hugging Face's generate() does; the same --seed gives the
same tokens). --temperature 0 keeps greedy decoding.

Examples:
  tfjs-better-transformer generate ./gpt2_tfjs --prompt-ids "464,2068,7586" --max-new-tokens 16
  tfjs-better-transformer generate ./gpt2_tfjs --prompt-ids "1,2,3" --prompt-ids "4,5" --json
  tfjs-better-transformer generate ./gpt2_tfjs --prompt-ids "1,2,3" --temperature 0.8 --top-p 0.9 --seed 7 --stream

Encoder-decoder models (T5, BART, Marian, ...): the prompt is the source; give
the decoder's start token (the model's generation_config.decoder_start_token_id)
and, for beam search, --num-beams:
  tfjs-better-transformer generate ./marian_tfjs --prompt-ids "38,1175,0" --decoder-start-token-id 58100 \
      --stop-tokens 0 --num-beams 4 --max-new-tokens 64`;

/** Adds `generate` to the program (options are parsed and checked by commander). */
export function registerGenerateCommand(program: Command): void {
  program.command('generate <model>')
      .description('generate tokens with a converted decoder-only or encoder-decoder model (model dir or model.json); ids in, ids out')
      .option('--prompt-ids <ids>', 'a prompt as comma-separated token ids, e.g. "1,2,3"; repeat for a batch', appendIds)
      .option('--prompt <text>', 'a prompt as text (needs --tokenizer); repeat for a batch', appendText)
      .option('--tokenizer <tokenizer.json>', 'a Hugging Face tokenizer.json (or its folder): encodes --prompt and decodes the output')
      .option('--max-new-tokens <n>', 'new tokens per sequence (fewer when a stop token comes)', integerAtLeast(1), 20)
      .option('--no-cache', 'recompute the whole sequence with the graph per token (no key/value cache; a baseline)')
      .option('--temperature <t>', 'sampling temperature (> 0 samples; 0 is greedy)', numberIn(x => x >= 0, '>= 0'))
      .option('--top-k <k>', 'sample among the k most likely tokens (0: all)', integerAtLeast(0))
      .option('--top-p <p>', 'sample among the most likely tokens whose probability reaches p (0 < p <= 1)',
          numberIn(x => x > 0 && x <= 1, 'in (0, 1]'))
      .option('--repetition-penalty <r>', "Hugging Face's repetition penalty (> 0; 1: none)", numberIn(x => x > 0, '> 0'))
      .option('--seed <s>', 'seed of the sampler (turns sampling on): the same seed gives the same tokens', integerAtLeast(0, 2 ** 32 - 1))
      .option('--stop-tokens <ids>', 'token ids that end a sequence, comma-separated (kept in the output)', concatIds)
      .option('--min-new-tokens <n>', 'stop tokens are not chosen before this many new tokens', integerAtLeast(0))
      .addOption(new Option('--num-beams <k>', 'beam search with k beams (encoder-decoder models)').argParser(integerAtLeast(1)).conflicts('stream'))
      .option('--length-penalty <p>', 'beam scores are divided by length^p (default 1)', numberIn(x => Number.isFinite(x), 'finite'))
      .option('--early-stopping', 'beam search: a source is done when --num-beams sequences have finished')
      .option('--decoder-start-token-id <id>', "encoder-decoder models: the decoder's first token (generation_config.decoder_start_token_id)", integerAtLeast(0))
      .option('--forced-bos-token-id <id>', 'forced as the first new token (mBART target language)', integerAtLeast(0))
      .option('--forced-eos-token-id <id>', 'forced as the last new token at --max-new-tokens (BART)', integerAtLeast(0))
      .addOption(new Option('--weight-precision <precision>', 'weights the fused step reads').choices(['float32', 'bfloat16']).default('float32'))
      .addOption(new Option('--backend <name>', "tfjs backend (default: 'tensorflow' when tfjs-node is installed, else 'cpu')")
          .choices(['cpu', 'tensorflow']))
      .addOption(new Option('--gpu-precision <precision>', GPU_PRECISION_HELP).choices(GPU_PRECISION_CHOICES))
      .addOption(new Option('--json', 'print the result as one JSON object').conflicts('stream'))
      .option('--stream', 'print the tokens as they come')
      .addHelpText('after', HELP_AFTER)
      .action(async (model: string, opts: GenerateCommandOptions, command: Command) => generateCommand(model, opts, command));
}

function usageError(command: Command | undefined, message: string): never {
  if (command) command.error(`error: ${message}`, {exitCode: 2, code: 'tfjs-better-transformer.usage'});
  throw new Error(message);
}

interface TokenizerLike {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

function loadTokenizer(location: string): TokenizerLike {
  const file = fs.existsSync(location) && fs.statSync(location).isDirectory() ? path.join(location, 'tokenizer.json') : location;
  if (!fs.existsSync(file)) throw new Error(`--tokenizer: no tokenizer at ${file}`);
  const read = (p: string, what: string): object => {
    try {
      return JSON.parse(fs.readFileSync(p, 'utf8')) as object;
    } catch (e) {
      throw new Error(`--tokenizer: ${what} ${p} is not valid JSON: ${(e as Error).message}`);
    }
  };
  const configFile = path.join(path.dirname(file), 'tokenizer_config.json');
  const tokenizerJson = read(file, 'tokenizer file');
  const config = fs.existsSync(configFile) ? read(configFile, 'tokenizer config') : {};
  const {Tokenizer: TokenizerClass} = require('@huggingface/tokenizers') as {Tokenizer: new (json: object, config: object) => Tokenizer};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new TokenizerClass(tokenizerJson, config);
  } catch (e) {
    throw new Error(`--tokenizer: cannot read ${file} as a tokenizer: ${(e as Error).message}`);
  }
  return {
    encode: text => tokenizer.encode(text).ids,
    decode: ids => tokenizer.decode(ids, {skip_special_tokens: true}),
  };
}

/** The prompts as token ids, from --prompt-ids or from --prompt through the tokenizer. */
function promptsOf(opts: GenerateCommandOptions, tokenizer: TokenizerLike | null, command?: Command): number[][] {
  if (opts.promptIds && opts.prompt) usageError(command, 'give the prompts either as --prompt-ids or as --prompt, not both');
  if (opts.prompt) {
    if (!tokenizer) usageError(command, '--prompt needs --tokenizer <tokenizer.json> (without one, give token ids with --prompt-ids)');
    return opts.prompt.map((text, b) => {
      const ids = tokenizer.encode(text);
      if (ids.length === 0) throw new Error(`--prompt #${b + 1} gives no tokens`);
      const unknown = ids.findIndex(id => !Number.isInteger(id));
      if (unknown >= 0) throw new Error(`--prompt #${b + 1}: the tokenizer has no id for token ${unknown + 1} of ${JSON.stringify(text)}`);
      return ids;
    });
  }
  if (!opts.promptIds) usageError(command, 'give at least one prompt with --prompt-ids "1,2,3"');
  return opts.promptIds;
}

/** The generator's argument errors, told in the CLI's option names. */
function inOptionTerms(message: string, fromText: boolean): string {
  const promptOption = fromText ? '--prompt' : '--prompt-ids';
  return message
      .replace(/^generator: /, '')
      .replace(/inputIds\[(\d+)\]\[(\d+)\] = (\S+) is not a token id/,
          (_, b: string, i: string, id: string) => `${promptOption} #${Number(b) + 1}: ${id} (position ${Number(i) + 1}) is not a token id`)
      .replace(/options\.stopTokens\[\d+\] = (\S+) is not a token id/, '--stop-tokens: $1 is not a token id')
      .replace(/options\.maxNewTokens = (\d+)/, '--max-new-tokens $1')
      .replace(/options\.(\w+)/g, (_, name: string) => `--${name.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)}`);
}

function oneLine(text: string): string {
  return text.replace(/\r?\n/g, '\\n');
}

/** Writes the tokens of each step as they come: one growing line for one sequence, a line per step for a batch. */
class StreamPrinter {
  private text = '';
  private count = 0;

  constructor(private readonly batch: number, private readonly tokenizer: TokenizerLike | null) {}

  step(step: number, tokens: Array<number | null>, sofar: number[][]): void {
    if (this.batch === 1) {
      if (this.tokenizer) {
        const text = this.tokenizer.decode(sofar[0]);
        // Decoding can change earlier characters (a byte sequence completed); write what is new once it is stable.
        if (text.startsWith(this.text)) {
          process.stdout.write(text.slice(this.text.length));
          this.text = text;
        }
      } else if (tokens[0] !== null) {
        process.stdout.write(`${this.count++ ? ' ' : ''}${tokens[0]}`);
      }
      return;
    }
    process.stdout.write(`step ${step}: ${tokens.map(t => (t === null ? '-' : String(t))).join(' ')}\n`);
  }

  end(result: GenerationResult): void {
    if (this.batch !== 1) return;
    if (this.tokenizer) {
      const text = this.tokenizer.decode(result.tokens[0]);
      process.stdout.write(`${text.startsWith(this.text) ? text.slice(this.text.length) : `\n${text}`}\n`);
    } else {
      process.stdout.write('\n');
    }
  }
}

export async function generateCommand(model: string, opts: GenerateCommandOptions, command?: Command): Promise<void> {
  const tokenizer = opts.tokenizer ? loadTokenizer(opts.tokenizer) : null;
  const prompts = promptsOf(opts, tokenizer, command);
  const artifacts = readModelArtifacts(model);
  if (!Array.isArray((artifacts.modelTopology as {node?: unknown} | undefined)?.node)) {
    throw new Error('generate works on converted graph models (tfjs-converter output); this is a layers model');
  }
  applyGpuPrecision(opts.gpuPrecision);
  const backend = await prepareBackend(opts.backend);
  const graph = loadGraphModelSync(artifacts) as unknown as GraphModel;
  let generator: AnyGenerator | null = null;
  try {
    try {
      // Rotary models set no length limit of their own: prepare for the longest sequence asked for when it is
      // beyond the generator's default (4096 positions).
      const longest = Math.max(...prompts.map(p => p.length)) + opts.maxNewTokens;
      generator = BetterTransformer.generator(graph, {
        weightPrecision: opts.weightPrecision, cache: opts.cache, maxLength: Math.max(DEFAULT_MAX_LENGTH, longest),
      });
    } catch (e) {
      if (e instanceof BetterTransformerArgumentError) throw new Error(inOptionTerms(e.message, false));
      throw e;
    }
    const options: GenerateOptions = {maxNewTokens: opts.maxNewTokens};
    if (opts.temperature !== undefined) options.temperature = opts.temperature;
    if (opts.topK !== undefined) options.topK = opts.topK;
    if (opts.topP !== undefined) options.topP = opts.topP;
    if (opts.repetitionPenalty !== undefined) options.repetitionPenalty = opts.repetitionPenalty;
    if (opts.seed !== undefined) options.seed = opts.seed;
    if (opts.stopTokens !== undefined) options.stopTokens = opts.stopTokens;
    const seq2seq = 'source' in generator.report;
    const seq2seqOptions: Seq2SeqGenerateOptions = {};
    for (const key of ['numBeams', 'lengthPenalty', 'earlyStopping', 'decoderStartTokenId', 'forcedBosTokenId', 'forcedEosTokenId'] as const) {
      if (opts[key] === undefined) continue;
      if (!seq2seq) usageError(command, `--${key.replace(/[A-Z]/g, c => `-${c.toLowerCase()}`)} is for encoder-decoder models; this one is decoder-only`);
      (seq2seqOptions as Record<string, unknown>)[key] = opts[key];
    }
    if (opts.minNewTokens !== undefined) {
      if (!seq2seq) usageError(command, '--min-new-tokens is for encoder-decoder models; this one is decoder-only');
      seq2seqOptions.minNewTokens = opts.minNewTokens;
    }
    Object.assign(options, seq2seqOptions);

    const printer = opts.stream ? new StreamPrinter(prompts.length, tokenizer) : null;
    const sofar: number[][] = prompts.map(() => []);
    let steps = 0;
    let firstTokenMs: number | null = null;
    const t0 = performance.now();
    let result: GenerationResult;
    try {
      // Beam search has no stream (a beam's tokens are final only at the end): one result.
      const stream = (opts.numBeams ?? 1) > 1
        ? (async function* (g: AnyGenerator): AsyncGenerator<GenerationStep, GenerationResult, undefined> {
          return await g.generate(prompts, options);
        })(generator)
        : generator.stream(prompts, options);
      for (;;) {
        const next = await stream.next();
        if (next.done) {
          result = next.value;
          break;
        }
        if (firstTokenMs === null) firstTokenMs = performance.now() - t0;
        steps++;
        next.value.tokens.forEach((t, b) => {
          if (t !== null) sofar[b].push(t);
        });
        printer?.step(next.value.step, next.value.tokens, sofar);
      }
    } catch (e) {
      if (e instanceof BetterTransformerArgumentError) throw new Error(inOptionTerms(e.message, opts.prompt !== undefined));
      throw e;
    }
    const ms = performance.now() - t0;
    printer?.end(result);

    const report = generator.report;
    const reason = report.mode === 'recompute' ? report.reason ?? (opts.cache ? null : 'the cache is off (--no-cache)') : null;
    const tokensPerSecond = ms > 0 ? result.newTokens / (ms / 1000) : 0;
    const output: GenerateCommandResult = {
      tokens: result.tokens, promptTokens: result.promptTokens, newTokens: result.newTokens,
      msPerToken: steps > 0 ? ms / steps : 0, tokensPerSecond,
      mode: report.mode, reason, backend, gpuPrecision: getGpuPrecision(), weightPrecision: report.weightPrecision,
      sequences: prompts.map((prompt, b) => ({
        prompt, tokens: result.tokens[b], finishReason: result.finishReasons[b],
        ...(tokenizer ? {text: tokenizer.decode(result.tokens[b])} : {}),
      })),
      timing: {steps, newTokens: result.newTokens, ms, firstTokenMs, tokensPerSecond},
    };
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(output)}\n`);
      return;
    }
    if (!printer) {
      for (const s of output.sequences) process.stdout.write(`${s.text !== undefined ? oneLine(s.text) : s.tokens.join(' ')}\n`);
    }
    const finished = output.sequences.map(s => s.finishReason);
    const how = output.mode === 'cached' ? `mode cached (${output.weightPrecision} weights)` : `mode recompute (${reason ?? 'no reason given'})`;
    process.stderr.write(`${how}, backend ${backend}: ${result.newTokens} new token${result.newTokens === 1 ? '' : 's'} ` +
        `in ${steps} step${steps === 1 ? '' : 's'}, ${ms.toFixed(1)} ms, ${output.timing.tokensPerSecond.toFixed(1)} tokens/s; ` +
        `finished: ${[...new Set(finished)].map(r => `${finished.filter(f => f === r).length} ${r}`).join(', ')}\n`);
  } finally {
    generator?.dispose();
    graph.dispose();
  }
}
