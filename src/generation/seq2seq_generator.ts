/**
 * BetterTransformer.generator(model) for a converted encoder–decoder (T5,
 * BART, mBART, Marian, Pegasus, Blenderbot, Whisper): the encoder runs once
 * per source (the graph up to its output), the decoder as the fused step with
 * a static cross cache and a self-attention cache (seq2seq_steps.ts), after a
 * check on probe sources that it computes the graph's own logits; a graph it
 * cannot understand, or one that disagrees, is generated from by running the
 * whole graph per token, and the report says why. Decoding follows Hugging
 * Face's TensorFlow generate(): greedy by default, sampling, or beam search
 * (beam_search.ts) with the caches reordered in place; min length, forced BOS
 * and EOS tokens as its logits processors do them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {implementationOf} from '../dispatch/implementation';
import {BetterTransformerArgumentError} from '../errors';
import type {WeightPrecision} from '../op_table';
import {DecoderModelArgs, validateDecoderModel} from '../ops/decoder_args';
import {fail} from '../ops/validate';
import {beamSearch} from './beam_search';
import type {FinishReason, GenerationResult, GenerationStep, GeneratorReport} from './generation_types';
import {buildGraphSeq2Seq, GraphSeq2Seq, probeSource, seq2seqFeeds, SourceBatch} from './graph_seq2seq';
import {chooseToken, SeededRandom, argmax} from './sampling';
import {CachedSeq2SeqSteps, RecomputeSeq2SeqSteps, runEncoder, Seq2SeqStepModel} from './seq2seq_steps';
import {checkSeq2SeqOptions, checkSource, CheckedSeq2SeqOptions, Seq2SeqGenerateOptions} from './seq2seq_options';
import {relativeDifference, VERIFY_TOLERANCE} from './verify_decoder';

const OP = 'generator';

export interface Seq2SeqGeneratorReport extends GeneratorReport {
  /** The source the model reads: token ids or audio features. */
  source: 'tokens' | 'features';
  /** A learned relative position bias in the decoder's self-attention (T5). */
  positionBias: boolean;
  /** 'fused': the encoder's layers run as one TransformerEncoderStack; 'graph': the converted graph runs it. */
  encoder: 'fused' | 'graph';
  /** Why the graph runs the encoder, when it does. */
  encoderReason: string | null;
  /** The longest source (in tokens) the encoder's positions take; Infinity when it sets no limit. */
  sourcePositions: number;
}

function yieldToEventLoop(): Promise<void> {
  const immediate = (globalThis as {setImmediate?: (f: () => void) => void}).setImmediate;
  return new Promise(resolve => (immediate ? immediate(resolve) : setTimeout(resolve, 0)));
}

/** Hugging Face's min-length, forced-BOS and forced-EOS processors for the token after `newSoFar` new tokens. */
function processLogits(row: Float32Array, newSoFar: number, o: CheckedSeq2SeqOptions, fill: number): void {
  if (newSoFar < o.minNewTokens) for (const t of o.stopTokens) row[t] = -Infinity;
  const force = (token: number) => {
    row.fill(-Infinity);
    row[token] = fill;
  };
  if (newSoFar === 0 && o.forcedBosTokenId !== null) force(o.forcedBosTokenId);
  if (newSoFar === o.maxNewTokens - 1 && o.forcedEosTokenId !== null) force(o.forcedEosTokenId);
}

export class Seq2SeqGenerator {
  private disposed = false;
  private running = false;

  constructor(private readonly steps: Seq2SeqStepModel, readonly report: Seq2SeqGeneratorReport, private readonly owned: tf.Tensor[],
      private readonly featureShape: number[] | null) {}

  /** Generates the decoder's tokens for each source (token ids, or a features tensor for Whisper). */
  async generate(inputIds: number[] | number[][] | tf.Tensor, options: Seq2SeqGenerateOptions = {}): Promise<GenerationResult> {
    if (options?.numBeams !== undefined && options.numBeams > 1) return this.beams(inputIds, options);
    const stream = this.stream(inputIds, options);
    for (;;) {
      const next = await stream.next();
      if (next.done) return next.value;
    }
  }

  private prepare(inputIds: unknown, options: unknown) {
    if (this.disposed) fail(OP, 'the generator has been disposed');
    if (this.running) fail(OP, 'a generation is already running on this generator (await it, or make another generator)');
    const o = checkSeq2SeqOptions(OP, options, this.steps.vocab, null);
    if (1 + o.maxNewTokens > this.report.positions) {
      fail(OP, `options.maxNewTokens = ${o.maxNewTokens} needs ${1 + o.maxNewTokens} decoder positions; the model takes ${this.report.positions}`);
    }
    const {source, count, lengths} = checkSource(OP, inputIds, (options as Seq2SeqGenerateOptions | undefined)?.attentionMask,
        this.report.source, this.steps.vocab, this.featureShape);
    const longest = source.input.rank === 2 && this.report.source === 'tokens' ? source.input.shape[1] ?? 0 : 0;
    if (longest > this.report.sourcePositions) {
      tf.dispose([source.input, ...(source.mask ? [source.mask] : [])]);
      const b = lengths.findIndex(n => n === Math.max(...lengths));
      fail(OP, `inputIds[${b}] has ${longest} positions; the model's encoder takes at most ${this.report.sourcePositions}`);
    }
    return {o, source, count};
  }

  private async beams(inputIds: unknown, options: Seq2SeqGenerateOptions): Promise<GenerationResult> {
    const {o, source, count} = this.prepare(inputIds, options);
    const K = o.numBeams;
    this.running = true;
    try {
      const prompts = Array.from({length: count * K}, () => [o.decoderStartTokenId]);
      const steps = this.steps;
      const capacity = 1 + o.maxNewTokens;
      let newSoFar = 0;
      const result = beamSearch(count, {
        first: () => steps.begin(source, K, prompts, capacity) as Float32Array[],
        advance: (rows, tokens) => {
          steps.reorder(rows);
          newSoFar++;
          return steps.next(tokens) as Float32Array[];
        },
      }, {
        numBeams: K, maxNewTokens: o.maxNewTokens, lengthPenalty: o.lengthPenalty, earlyStopping: o.earlyStopping,
        stopTokens: o.stopTokens, minNewTokens: o.minNewTokens, forcedBosTokenId: o.forcedBosTokenId,
        forcedEosTokenId: o.forcedEosTokenId,
      });
      void newSoFar;
      const tokens = result.tokens;
      return {
        tokens, sequences: tokens.map(t => [o.decoderStartTokenId, ...t]),
        finishReasons: tokens.map((t, b) => (result.finished[b] && o.stopTokens.has(t[t.length - 1]) ? 'stop' : 'length')),
        promptTokens: count, newTokens: tokens.reduce((n, t) => n + t.length, 0),
      };
    } finally {
      this.steps.end();
      tf.dispose([source.input, ...(source.mask ? [source.mask] : [])]);
      this.running = false;
    }
  }

  /** Greedy or sampled decoding one step at a time: each new token of every source as it comes. */
  async *stream(inputIds: number[] | number[][] | tf.Tensor, options: Seq2SeqGenerateOptions = {}):
      AsyncGenerator<GenerationStep, GenerationResult, undefined> {
    if (options?.numBeams !== undefined && options.numBeams > 1) {
      fail(OP, 'options.numBeams > 1: beam search has no stream (a beam\'s tokens are only final at the end); use generate()');
    }
    const {o, source, count} = this.prepare(inputIds, options);
    const tokens: number[][] = Array.from({length: count}, () => []);
    const finishReasons: Array<FinishReason | null> = new Array(count).fill(null);
    const random = o.sampling.sample ? new SeededRandom(o.seed) : null;
    const stepLogits: Float32Array[][] | null = o.returnLogits ? tokens.map(() => []) : null;
    const result = (): GenerationResult => ({
      tokens, sequences: tokens.map(t => [o.decoderStartTokenId, ...t]), finishReasons: finishReasons.map(r => r ?? 'length'),
      promptTokens: count, newTokens: tokens.reduce((n, t) => n + t.length, 0), ...(stepLogits ? {logits: stepLogits} : {}),
    });
    if (o.maxNewTokens === 0) {
      tf.dispose([source.input, ...(source.mask ? [source.mask] : [])]);
      return result();
    }
    this.running = true;
    try {
      let logits: Array<Float32Array | null> = this.steps.begin(source, 1, tokens.map(() => [o.decoderStartTokenId]), 1 + o.maxNewTokens);
      for (let step = 0; ; step++) {
        const chosen = logits.map((row, b) => {
          if (row === null || finishReasons[b] !== null) return null;
          stepLogits?.[b].push(row.slice());
          processLogits(row, tokens[b].length, o, 0);
          const token = chooseToken(row, [o.decoderStartTokenId, ...tokens[b]], o.sampling, random);
          tokens[b].push(token);
          if (o.stopTokens.has(token)) finishReasons[b] = 'stop';
          else if (tokens[b].length >= o.maxNewTokens) finishReasons[b] = 'length';
          return token;
        });
        yield {step, tokens: chosen};
        await yieldToEventLoop();
        if (this.disposed) fail(OP, 'the generator was disposed during a generation');
        if (o.signal?.aborted) finishReasons.forEach((r, b) => { if (r === null) finishReasons[b] = 'aborted'; });
        if (finishReasons.every(r => r !== null)) return result();
        logits = this.steps.next(chosen.map((t, b) => (finishReasons[b] === null ? t : null)));
      }
    } finally {
      this.steps.end();
      tf.dispose([source.input, ...(source.mask ? [source.mask] : [])]);
      this.running = false;
    }
  }

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

/** Probe sources: two token sequences of different lengths (one padded), or two deterministic feature rows. */
function probeSources(model: GraphModel, built: GraphSeq2Seq, vocab: number): SourceBatch | string {
  const r = built.recognised;
  if (r.sourceKind === 'features') {
    const one = probeSource(model, r);
    if (typeof one === 'string') return one;
    const shape = [2, ...one.input.shape.slice(1)];
    one.input.dispose();
    const size = shape.reduce((a, b) => a * b, 1);
    return {input: tf.tensor(Float32Array.from({length: size}, (_, i) => Math.sin(i * 0.37) * 0.5), shape), mask: null};
  }
  const id = (i: number) => (i * 7919 + 13) % vocab;
  const ids = [[0, 1, 2, 3, 4].map(id), [5, 6, 7, 0, 0].map(id)];
  return {input: tf.tensor2d(ids, [2, 5], 'int32'), mask: tf.tensor2d([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], [2, 5], 'int32')};
}

function compare(steps: Seq2SeqStepModel, reference: Seq2SeqStepModel, source: SourceBatch, vocab: number): number {
  let worst = 0;
  const prompts = [[1 % vocab], [2 % vocab]];
  let ours: Array<Float32Array | null> = steps.begin(source, 1, prompts, 4);
  let theirs: Array<Float32Array | null> = reference.begin(source, 1, prompts, 4);
  for (let step = 0; step < 3; step++) {
    const tokens = theirs.map(row => (row ? argmax(row) : null));
    ours.forEach((row, b) => {
      const other = theirs[b];
      if (row && other) worst = Math.max(worst, relativeDifference(row, other));
    });
    if (step === 2) break;
    ours = steps.next(tokens);
    theirs = reference.next(tokens);
  }
  steps.end();
  reference.end();
  return worst;
}

/** The fused encoder against the graph's on the probe sources: real rows only (the fused one zeroes padding). */
function compareEncoders(model: GraphModel, built: GraphSeq2Seq, source: SourceBatch): number {
  const fused = runEncoder(model, built, source, true), graph = runEncoder(model, built, source, false);
  try {
    const mask = source.mask ? tf.tidy(() => tf.expandDims(tf.cast(source.mask as tf.Tensor, 'float32'), 2)) : null;
    const [a, b] = tf.tidy(() => (mask ? [tf.mul(fused, mask), tf.mul(graph, mask)] : [tf.clone(fused), tf.clone(graph)]));
    mask?.dispose();
    const d = relativeDifference(a.dataSync() as Float32Array, b.dataSync() as Float32Array);
    tf.dispose([a, b]);
    return d;
  } finally {
    tf.dispose([fused, graph]);
  }
}

export interface Seq2SeqGeneratorOptions {
  weightPrecision: WeightPrecision;
  cache: boolean;
  maxLength: number;
}

export function createSeq2SeqGenerator(model: GraphModel, options: Seq2SeqGeneratorOptions): Seq2SeqGenerator {
  const built = buildGraphSeq2Seq(model, options.maxLength);
  const sourceInfo = (() => {
    const inputs = model.inputs.map(i => ({name: (i.name ?? '').replace(/:0$/, ''), dtype: i.dtype, shape: i.shape}));
    const features = inputs.find(i => /input_features/.test(i.name) && i.dtype === 'float32');
    return features ? {kind: 'features' as const, shape: (features.shape ?? []).slice(1).map(d => d ?? -1)} : {kind: 'tokens' as const, shape: null};
  })();
  const names = model.inputs.map(i => (i.name ?? '').replace(/:0$/, ''));
  const logitsName = built.ok ? built.model.recognised.logits : (model.outputs[0]?.name ?? '').replace(/:0$/, '');
  const fallbackFeeds = (source: SourceBatch, ids: tf.Tensor2D): tf.NamedTensorMap => {
    const feeds: tf.NamedTensorMap = {};
    for (const name of names) {
      if (/decoder_input_ids/.test(name)) feeds[name] = ids;
      else if (/decoder_attention_mask/.test(name)) feeds[name] = tf.onesLike(ids);
      else if (/mask/.test(name)) feeds[name] = source.mask ?? tf.ones(source.input.shape.slice(0, 2), 'int32');
      else feeds[name] = source.input;
    }
    return feeds;
  };
  const vocabOf = (): number => {
    if (built.ok) return built.model.weights.wordEmbeddings.shape[0];
    if (sourceInfo.kind === 'features' && sourceInfo.shape.some(d => d < 1)) return -1;
    // The logits of a one-token probe.
    try {
      return tf.tidy(() => {
        const source = sourceInfo.kind === 'features' ? tf.zeros([1, ...sourceInfo.shape]) : tf.zeros([1, 1], 'int32');
        const out = model.execute(fallbackFeeds({input: source, mask: null}, tf.zeros([1, 1], 'int32') as tf.Tensor2D), logitsName) as tf.Tensor;
        return out.rank === 3 ? out.shape[2] as number : -1;
      });
    } catch {
      return -1;
    }
  };
  const recompute = (reason: string | null): Seq2SeqGenerator => {
    const vocab = vocabOf();
    if (vocab < 1) {
      if (built.ok) tf.dispose(built.model.owned);
      throw new BetterTransformerArgumentError(`${OP}: cannot generate with this encoder–decoder: the graph does not run as one (source, decoder_input_ids) -> logits [B, T, vocabulary]${reason ? ` (${reason})` : ''}`);
    }
    const feeds = built.ok ? (s: SourceBatch, ids: tf.Tensor2D) => seq2seqFeeds(built.model.recognised, s, ids) : fallbackFeeds;
    const positions = built.ok ? built.model.positions : options.maxLength;
    if (built.ok) tf.dispose(built.model.owned);
    return new Seq2SeqGenerator(new RecomputeSeq2SeqSteps(model, feeds, logitsName, vocab, positions), {
      mode: 'recompute', reason, architecture: null, verification: null, positions, weightPrecision: 'float32',
      implementation: 'graph', source: sourceInfo.kind, positionBias: false, encoder: 'graph',
      sourcePositions: built.ok ? built.model.sourcePositions : Infinity,
      encoderReason: reason ?? 'the cache is off (the whole graph runs per token)',
    }, [], sourceInfo.shape);
  };
  if (!built.ok) return recompute(built.reason);
  const b = built.model;
  let args: DecoderModelArgs;
  try {
    args = validateDecoderModel(OP, b.weights, b.config);
  } catch (e) {
    return recompute(`the recognised decoder does not fit the fused step: ${(e as Error).message}`);
  }
  if (!options.cache) return recompute(null);
  const vocab = args.dims.vocab;
  const reference = new RecomputeSeq2SeqSteps(model, (s, ids) => seq2seqFeeds(b.recognised, s, ids), logitsName, vocab, b.positions);
  const cached = new CachedSeq2SeqSteps(model, b, args, 'float32');
  const source = probeSources(model, b, vocab);
  if (typeof source === 'string') return recompute(source);
  let difference: number;
  let bf16: number | null = null;
  try {
    if (typeof b.encoder !== 'string') {
      const encoderDifference = compareEncoders(model, b, source);
      if (!(encoderDifference <= VERIFY_TOLERANCE)) {
        b.encoder = `the fused encoder's output differs from the graph's by ${encoderDifference.toExponential(2)} (relative) on the probe`;
      }
    }
    difference = compare(cached, reference, source, vocab);
    if (options.weightPrecision === 'bfloat16' && difference <= VERIFY_TOLERANCE) {
      bf16 = compare(new CachedSeq2SeqSteps(model, b, args, 'bfloat16'), cached, source, vocab);
    }
  } catch (e) {
    return recompute(`the fused decoder or the graph failed on the probe: ${(e as Error).message.split('\n')[0]}`);
  } finally {
    tf.dispose([source.input, ...(source.mask ? [source.mask] : [])]);
  }
  if (!(difference <= VERIFY_TOLERANCE)) {
    return recompute(`the fused decoder's logits differ from the graph's by ${difference.toExponential(2)} (relative) on the probe`);
  }
  const steps = options.weightPrecision === 'bfloat16' ? new CachedSeq2SeqSteps(model, b, args, 'bfloat16') : cached;
  const a = args.attrs;
  return new Seq2SeqGenerator(steps, {
    mode: 'cached', reason: null,
    architecture: {
      layers: a.numLayers, vocab, embed: args.dims.embed, heads: a.numHeads, kvHeads: a.numKvHeads, headDim: a.headDim,
      normKind: a.normKind, normFirst: a.normFirst, parallel: false, activation: a.activation, gatedMlp: a.gatedMlp,
      positionEmbedding: args.globals.positionEmbeddings ? 'learned' : 'none', rotaryDim: 0, rotaryInterleaved: false,
      tiedHead: b.config.lmHeadTransposed ?? false,
    },
    verification: {maxRelativeDifference: difference, bfloat16RelativeDifference: bf16},
    positions: b.positions, weightPrecision: options.weightPrecision, implementation: implementationOf('TransformerDecoderStack'),
    source: b.recognised.sourceKind, positionBias: !!b.weights.positionBias,
    encoder: typeof b.encoder === 'string' ? 'graph' : 'fused', encoderReason: typeof b.encoder === 'string' ? b.encoder : null,
    sourcePositions: b.sourcePositions,
  }, b.owned, sourceInfo.shape);
}
