/**
 * The options of an encoder–decoder generator's generate() and stream():
 * everything the decoder-only generator takes (generate_options.ts), plus
 * beam search (numBeams, lengthPenalty, earlyStopping) and the decoder's
 * special tokens (decoderStartTokenId, forcedBosTokenId, forcedEosTokenId),
 * minNewTokens, and the source: token ids (number[] / number[][] / an int32
 * tensor with attentionMask) or features (a float32 tensor, Whisper).
 */
import * as tf from '@tensorflow/tfjs-core';
import {describeValue, fail} from '../ops/validate';
import {checkGenerateOptions, checkPrompts, CheckedGenerateOptions, GenerateOptions} from './generate_options';
import type {SourceBatch} from './graph_seq2seq';

export interface Seq2SeqGenerateOptions extends GenerateOptions {
  /** Beams per source (1: greedy or sampling). Default 1. */
  numBeams?: number;
  /** Beam scores are divided by length^lengthPenalty. Default 1. */
  lengthPenalty?: number;
  /** true: a source's search ends when numBeams sequences are finished; false: when none can improve; 'never'. Default false. */
  earlyStopping?: boolean | 'never';
  /** The decoder's first token (the model's generation_config.decoder_start_token_id). Required unless the model says. */
  decoderStartTokenId?: number;
  /** Forced as the first new token (mBART's target language). */
  forcedBosTokenId?: number;
  /** Forced as the last new token when maxNewTokens is reached (BART). */
  forcedEosTokenId?: number;
  /** Stop tokens are not chosen before this many new tokens. Default 0. */
  minNewTokens?: number;
}

export interface CheckedSeq2SeqOptions extends CheckedGenerateOptions {
  numBeams: number;
  lengthPenalty: number;
  earlyStopping: boolean | 'never';
  decoderStartTokenId: number;
  forcedBosTokenId: number | null;
  forcedEosTokenId: number | null;
  minNewTokens: number;
}

const SEQ2SEQ_KEYS = ['numBeams', 'lengthPenalty', 'earlyStopping', 'decoderStartTokenId', 'forcedBosTokenId',
  'forcedEosTokenId', 'minNewTokens'] as const;

function tokenId(op: string, name: string, x: unknown, vocab: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x >= vocab) fail(op, `${name} must be a token id in [0, ${vocab}), got ${String(x)}`);
  return x;
}

export function checkSeq2SeqOptions(op: string, options: unknown, vocab: number, defaultStart: number | null): CheckedSeq2SeqOptions {
  if (options == null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) fail(op, `options must be an object, got ${describeValue(options)}`);
  const o = options as Seq2SeqGenerateOptions;
  const base: Record<string, unknown> = {...o};
  for (const k of SEQ2SEQ_KEYS) delete base[k];
  const checked = checkGenerateOptions(op, base, vocab);
  const numBeams = o.numBeams === undefined ? 1 : o.numBeams;
  if (typeof numBeams !== 'number' || !Number.isInteger(numBeams) || numBeams < 1) fail(op, `options.numBeams must be an integer >= 1, got ${String(o.numBeams)}`);
  if (numBeams > 64) fail(op, `options.numBeams = ${numBeams}: at most 64 beams`);
  const lengthPenalty = o.lengthPenalty === undefined ? 1 : o.lengthPenalty;
  if (typeof lengthPenalty !== 'number' || !Number.isFinite(lengthPenalty)) fail(op, `options.lengthPenalty must be a finite number, got ${String(o.lengthPenalty)}`);
  const earlyStopping = o.earlyStopping === undefined ? false : o.earlyStopping;
  if (earlyStopping !== true && earlyStopping !== false && earlyStopping !== 'never') {
    fail(op, `options.earlyStopping must be true, false or 'never', got ${describeValue(o.earlyStopping)}`);
  }
  if (o.decoderStartTokenId === undefined && defaultStart === null) {
    fail(op, 'options.decoderStartTokenId is required: the converted graph does not record the decoder\'s start token ' +
        '(the model\'s generation_config.decoder_start_token_id)');
  }
  const decoderStartTokenId = tokenId(op, 'options.decoderStartTokenId', o.decoderStartTokenId ?? defaultStart, vocab);
  const forcedBosTokenId = o.forcedBosTokenId === undefined ? null : tokenId(op, 'options.forcedBosTokenId', o.forcedBosTokenId, vocab);
  const forcedEosTokenId = o.forcedEosTokenId === undefined ? null : tokenId(op, 'options.forcedEosTokenId', o.forcedEosTokenId, vocab);
  const minNewTokens = o.minNewTokens === undefined ? 0 : o.minNewTokens;
  if (typeof minNewTokens !== 'number' || !Number.isInteger(minNewTokens) || minNewTokens < 0) {
    fail(op, `options.minNewTokens must be an integer >= 0, got ${String(o.minNewTokens)}`);
  }
  if (minNewTokens > checked.maxNewTokens) fail(op, `options.minNewTokens = ${minNewTokens} exceeds options.maxNewTokens = ${checked.maxNewTokens}`);
  if (numBeams > 1 && checked.sampling.sample) {
    fail(op, 'options.numBeams > 1 with sampling options (temperature, topK, topP, seed): beam sampling is not supported');
  }
  if (numBeams > 1 && checked.stopTokens.size === 0 && earlyStopping === true) {
    // Without stop tokens nothing ever finishes: say so rather than run to the limit silently.
    fail(op, 'options.earlyStopping with numBeams > 1 needs options.stopTokens (the end-of-sequence ids)');
  }
  return {...checked, numBeams, lengthPenalty, earlyStopping, decoderStartTokenId, forcedBosTokenId, forcedEosTokenId, minNewTokens};
}

/** The source batch from token ids (any lengths: right-padded with a mask) or a features tensor. */
export function checkSource(op: string, input: unknown, attentionMask: unknown, kind: 'tokens' | 'features', vocab: number,
    featureShape: number[] | null): {source: SourceBatch; count: number; lengths: number[]} {
  if (kind === 'features') {
    if (!(input instanceof tf.Tensor) || input.dtype !== 'float32') {
      fail(op, `this model's source is audio features: inputIds must be a float32 tensor [B, ...], got ${describeValue(input)}`);
    }
    if (input.isDisposed) fail(op, 'the features tensor has been disposed');
    if (featureShape && (input.rank !== featureShape.length + 1 ||
        featureShape.some((d, i) => d > 0 && input.shape[i + 1] !== d))) {
      fail(op, `the features must have shape [B, ${featureShape.map(d => (d > 0 ? d : '?')).join(', ')}], got [${input.shape.join(', ')}]`);
    }
    if (input.shape[0] === 0) fail(op, 'the features tensor holds no source');
    return {source: {input: tf.clone(input), mask: null}, count: input.shape[0], lengths: new Array(input.shape[0]).fill(input.shape[1])};
  }
  if (input instanceof tf.Tensor && input.dtype === 'float32') fail(op, 'this model\'s source is token ids: inputIds must be int32');
  const sources = checkPrompts(op, input, attentionMask, vocab);
  if (input instanceof tf.Tensor && attentionMask instanceof tf.Tensor && input.rank === 2) {
    // A padded batch goes to the encoder as given (left or right padding: the model's own mask semantics).
    if (!tf.util.arraysEqual(attentionMask.shape, input.shape)) {
      fail(op, `options.attentionMask [${attentionMask.shape.join(', ')}] does not match inputIds [${input.shape.join(', ')}]`);
    }
    return {
      source: {input: tf.clone(input), mask: tf.cast(tf.notEqual(attentionMask, 0), 'int32') as tf.Tensor2D},
      count: sources.length, lengths: sources.map(s => s.length),
    };
  }
  const longest = Math.max(...sources.map(s => s.length));
  const ids = new Int32Array(sources.length * longest), mask = new Int32Array(sources.length * longest);
  sources.forEach((s, b) => {
    ids.set(s, b * longest);
    mask.fill(1, b * longest, b * longest + s.length);
  });
  const padded = sources.some(s => s.length !== longest);
  return {
    source: {input: tf.tensor2d(ids, [sources.length, longest], 'int32'), mask: padded ? tf.tensor2d(mask, [sources.length, longest], 'int32') : null},
    count: sources.length, lengths: sources.map(s => s.length),
  };
}
