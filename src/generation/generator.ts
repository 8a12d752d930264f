/**
 * BetterTransformer.generator(model): text generation from a converted
 * decoder-only model. The decoder is recognised in the graph and run as the
 * fused step with a key/value cache (step_models.ts), after checking on probe
 * prompts that it computes the graph's own logits; a graph it cannot
 * understand, or one that disagrees, is generated from by recomputing the
 * graph per token, and the report says why. Decoding follows Hugging Face's
 * generate(): greedy by default, sampling with temperature / top-k / top-p /
 * repetition penalty (sampling.ts), stop tokens, per-sequence lengths.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {implementationOf} from '../dispatch/implementation';
import type {Implementation} from '../dispatch/implementation';
import {BetterTransformerArgumentError} from '../errors';
import type {WeightPrecision} from '../op_table';
import {DecoderModelArgs, validateDecoderModel} from '../ops/decoder_args';
import {describeValue, fail, requireKnownKeys} from '../ops/validate';
import {checkGenerateOptions, checkPrompts, GenerateOptions} from './generate_options';
import {buildGraphDecoder, GraphDecoder} from './graph_decoder';
import {graphInterface} from './graph_interface';
import {buildLayersGenerator, isLayersModelLike} from './layers_generator';
import {chooseToken, SeededRandom} from './sampling';
import {CachedSteps, RecomputeSteps, StepModel} from './step_models';
import type {Seq2SeqGenerator} from './seq2seq_generator';
import {verifyCachedSteps} from './verify_decoder';
import type {FinishReason, GenerationResult, GenerationStep, GeneratorReport} from './generation_types';

export type {FinishReason, GenerationResult, GenerationStep, GeneratorReport} from './generation_types';
import {looksLikeSeq2Seq} from '../transform/seq2seq/seq2seq_graph';

export type {GenerateOptions} from './generate_options';

export interface GeneratorOptions {
  /** 'bfloat16': the native `cpu` kernel reads bfloat16 copies of the weights (half the memory traffic per token). */
  weightPrecision?: WeightPrecision;
  /** false: recompute the whole sequence per token with the graph (no cache; a baseline). Default true. */
  cache?: boolean;
  /** The longest sequence to prepare for when the model itself sets no limit (rotary models); default 4096. */
  maxLength?: number;
}





const OP = 'generator';
const DEFAULT_MAX_LENGTH = 4096;

/** Lets the event loop run (an abort from a timer, I/O) between steps, without a timer's delay where possible. */
function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as {setImmediate?: (f: () => void) => void}).setImmediate;
  return new Promise(resolve => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

export class Generator {
  private disposed = false;
  private running = false;

  constructor(private readonly steps: StepModel, readonly report: GeneratorReport, private readonly owned: tf.Tensor[]) {}

  /** Generates for each prompt (token ids: number[] for one, number[][] for a batch, or an int32 tensor). */
  async generate(inputIds: number[] | number[][] | tf.Tensor, options: GenerateOptions = {}): Promise<GenerationResult> {
    const stream = this.stream(inputIds, options);
    for (;;) {
      const next = await stream.next();
      if (next.done) return next.value;
    }
  }

  /** The same as generate(), one step at a time: each new token of every sequence as it comes. */
  async *stream(inputIds: number[] | number[][] | tf.Tensor, options: GenerateOptions = {}):
      AsyncGenerator<GenerationStep, GenerationResult, undefined> {
    if (this.disposed) fail(OP, 'the generator has been disposed');
    if (this.running) fail(OP, 'a generation is already running on this generator (await it, or make another generator)');
    const o = checkGenerateOptions(OP, options, this.steps.vocab);
    const prompts = checkPrompts(OP, inputIds, options?.attentionMask, this.steps.vocab);
    const longest = Math.max(...prompts.map(p => p.length));
    if (longest + o.maxNewTokens > this.report.positions) {
      fail(OP, `options.maxNewTokens = ${o.maxNewTokens} after a prompt of ${longest} tokens needs ${longest + o.maxNewTokens} positions; ` +
          `the model takes ${this.report.positions}`);
    }
    const batch = prompts.length;
    const tokens: number[][] = prompts.map(() => []);
    const finishReasons: Array<FinishReason | null> = prompts.map(() => null);
    const random = o.sampling.sample ? new SeededRandom(o.seed) : null;
    const stepLogits: Float32Array[][] | null = o.returnLogits ? prompts.map(() => []) : null;
    const result = (): GenerationResult => ({
      tokens, sequences: prompts.map((p, b) => [...p, ...tokens[b]]),
      finishReasons: finishReasons.map(r => r ?? 'length'), promptTokens: prompts.reduce((n, p) => n + p.length, 0),
      newTokens: tokens.reduce((n, t) => n + t.length, 0), ...(stepLogits ? {logits: stepLogits} : {}),
    });
    if (o.maxNewTokens === 0) return result();
    this.running = true;
    try {
      let logits: Array<Float32Array | null> = this.steps.begin(prompts, longest + o.maxNewTokens);
      for (let step = 0; ; step++) {
        const chosen = logits.map((row, b) => {
          if (row === null || finishReasons[b] !== null) return null;
          stepLogits?.[b].push(row.slice());
          const token = chooseToken(row, [...prompts[b], ...tokens[b]], o.sampling, random);
          tokens[b].push(token);
          if (o.stopTokens.has(token)) finishReasons[b] = 'stop';
          else if (tokens[b].length >= o.maxNewTokens) finishReasons[b] = 'length';
          return token;
        });
        yield {step, tokens: chosen};
        await yieldToEventLoop();
        if (this.disposed) fail(OP, 'the generator was disposed during a generation');
        if (o.signal?.aborted) {
          finishReasons.forEach((r, b) => {
            if (r === null) finishReasons[b] = 'aborted';
          });
        }
        if (finishReasons.every(r => r !== null)) return result();
        logits = this.steps.next(chosen.map((t, b) => (finishReasons[b] === null ? t : null)));
      }
    } finally {
      this.steps.end();
      this.running = false;
      void batch;
    }
  }

  /** Frees the tensors the generator made (rotary tables, weight views); the model's weights stay. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (!this.running) this.steps.end();
    tf.dispose(this.owned);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }
}

function isGraphModel(model: unknown): model is GraphModel {
  return typeof model === 'object' && model !== null && 'executeAsync' in model && 'modelSignature' in model;
}

function architectureOf(args: DecoderModelArgs, tied: boolean): NonNullable<GeneratorReport['architecture']> {
  const a = args.attrs;
  return {
    layers: a.numLayers, vocab: args.dims.vocab, embed: args.dims.embed, heads: a.numHeads, kvHeads: a.numKvHeads,
    headDim: a.headDim, normKind: a.normKind, normFirst: a.normFirst, parallel: a.parallel, activation: a.activation,
    gatedMlp: a.gatedMlp, positionEmbedding: a.rotaryDim > 0 ? 'rotary' : args.globals.positionEmbeddings ? 'learned' : 'none',
    rotaryDim: a.rotaryDim, rotaryInterleaved: a.rotaryInterleaved, tiedHead: tied,
  };
}

/** What BetterTransformer.generator returns: a decoder-only generator, or an encoder–decoder's (numBeams, a source). */
export type AnyGenerator = Generator | Seq2SeqGenerator;

export function createGenerator(model: unknown, options: GeneratorOptions = {}): AnyGenerator {
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    fail(OP, `options must be an object, got ${describeValue(options)}`);
  }
  requireKnownKeys(OP, 'option', options, ['weightPrecision', 'cache', 'maxLength']);
  const precision = options.weightPrecision ?? 'float32';
  if (precision !== 'float32' && precision !== 'bfloat16') {
    fail(OP, `options.weightPrecision must be 'float32' or 'bfloat16', got ${String(precision)}`);
  }
  const maxLength = options.maxLength ?? DEFAULT_MAX_LENGTH;
  if (!Number.isInteger(maxLength) || maxLength < 1) fail(OP, `options.maxLength must be a positive integer, got ${String(maxLength)}`);
  if (isLayersModelLike(model)) {
    // A tfjs-layers model (a Keras decoder): recognised from its layer graph, verified against its own predict().
    const parts = buildLayersGenerator(OP, model, {weightPrecision: precision, cache: options.cache !== false, maxLength});
    return new Generator(parts.steps, {
      mode: parts.mode, reason: parts.reason, architecture: parts.args ? architectureOf(parts.args, false) : null,
      verification: parts.verification, positions: parts.positions, weightPrecision: parts.weightPrecision,
      implementation: parts.implementation,
    }, parts.owned);
  }
  if (!isGraphModel(model)) {
    throw new BetterTransformerArgumentError(`${OP}: expected a GraphModel from a converted decoder (tf.loadGraphModel) ` +
        `or a LayersModel (tf.loadLayersModel), got ${describeValue(model)}`);
  }
  if (looksLikeSeq2Seq(model.inputs.map(i => (i.name ?? '').replace(/:0$/, '')))) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const {createSeq2SeqGenerator} = require('./seq2seq_generator') as typeof import('./seq2seq_generator');
    return createSeq2SeqGenerator(model, {weightPrecision: precision, cache: options.cache !== false, maxLength});
  }
  const built = buildGraphDecoder(model, maxLength);
  const recompute = (reason: string | null, decoder: GraphDecoder | null): Generator => {
    const graph = graphInterface(model, decoder, maxLength);
    if (typeof graph === 'string') {
      throw new BetterTransformerArgumentError(`${OP}: cannot generate with this model: ${graph}${reason ? ` (${reason})` : ''}`);
    }
    if (decoder) tf.dispose(decoder.owned);
    return new Generator(new RecomputeSteps(model, graph), {
      mode: 'recompute', reason, architecture: null, verification: null, positions: graph.positions, weightPrecision: 'float32',
      implementation: 'graph',
    }, []);
  };
  if (!built.ok) return recompute(built.reason, null);
  const decoder = built.decoder;
  let args: DecoderModelArgs;
  try {
    args = validateDecoderModel(OP, decoder.weights, decoder.config);
  } catch (e) {
    return recompute(`the recognised decoder does not fit the fused step: ${(e as Error).message}`, decoder);
  }
  // The recompute baseline asked for: no fused step to verify.
  if (options.cache === false) return recompute(null, decoder);
  const graph = graphInterface(model, decoder, maxLength);
  const cached = new CachedSteps(args, 'float32', decoder.positions);
  if (typeof graph !== 'string') {
    const check = verifyCachedSteps(cached, new RecomputeSteps(model, graph), args.dims.vocab, precision === 'bfloat16' ?
      new CachedSteps(args, 'bfloat16', decoder.positions) : null);
    if (!check.ok) return recompute(check.reason, decoder);
    const steps = precision === 'bfloat16' ? new CachedSteps(args, 'bfloat16', decoder.positions) : cached;
    return new Generator(steps, {
      mode: 'cached', reason: null, architecture: architectureOf(args, decoder.config.lmHeadTransposed ?? false),
      verification: {maxRelativeDifference: check.maxRelativeDifference, bfloat16RelativeDifference: check.bfloat16RelativeDifference},
      positions: decoder.positions, weightPrecision: precision, implementation: implementationOf('TransformerDecoderStack'),
    }, decoder.owned);
  }
  tf.dispose(decoder.owned);
  throw new BetterTransformerArgumentError(`${OP}: cannot run the graph to check the recognised decoder: ${graph}`);
}
