/**
 * The options of generate() and stream(), and the prompts, checked before any
 * step runs: each failure is a BetterTransformerArgumentError naming the
 * argument. Prompts are token-id arrays of any lengths (a batch of different
 * lengths needs no padding: each sequence keeps its own length in the cache),
 * or an int32 tensor [B, S] / [S] with an optional attention mask for padded
 * rows (left or right padding).
 */
import * as tf from '@tensorflow/tfjs-core';
import {describeValue, fail, requireKnownKeys} from '../ops/validate';
import type {SamplingOptions} from './sampling';

export interface GenerateOptions {
  /** New tokens per sequence (at most; fewer when a stop token comes). Default 20. */
  maxNewTokens?: number;
  /** Sampling temperature (> 0). Sampling is on when temperature, topK, topP or seed is given; 0 means greedy. */
  temperature?: number;
  /** Sample among the k most likely tokens (0: all). */
  topK?: number;
  /** Sample among the most likely tokens whose probability reaches p (1: all). */
  topP?: number;
  /** Hugging Face's repetition penalty (1: none): earlier tokens' logits are divided (positive) or multiplied (negative). */
  repetitionPenalty?: number;
  /** Seed of the sampling generator (default 0): the same seed gives the same tokens. */
  seed?: number;
  /** Token ids that end a sequence (included in its output). */
  stopTokens?: number[];
  /** Stops generating when aborted; the tokens so far are returned, finishReason 'aborted'. */
  signal?: AbortSignal;
  /** For a tensor of padded prompts: 1 for real tokens, 0 for padding. */
  attentionMask?: tf.Tensor;
  /** Also return each step's logits (before the repetition penalty and sampling), per sequence. */
  returnLogits?: boolean;
}

export interface CheckedGenerateOptions {
  maxNewTokens: number;
  sampling: SamplingOptions;
  seed: number;
  stopTokens: Set<number>;
  signal: AbortSignal | null;
  returnLogits: boolean;
}

const KEYS = ['maxNewTokens', 'temperature', 'topK', 'topP', 'repetitionPenalty', 'seed', 'stopTokens', 'signal',
  'attentionMask', 'returnLogits'] as const;

function integer(op: string, name: string, x: unknown, min: number): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x < min) fail(op, `${name} must be an integer >= ${min}, got ${String(x)}`);
  return x;
}

function finite(op: string, name: string, x: unknown, test: (v: number) => boolean, range: string): number {
  if (typeof x !== 'number' || !Number.isFinite(x) || !test(x)) fail(op, `${name} must be a number ${range}, got ${String(x)}`);
  return x;
}

export function checkGenerateOptions(op: string, options: unknown, vocab: number): CheckedGenerateOptions {
  if (options == null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) fail(op, `options must be an object, got ${describeValue(options)}`);
  const o = options as GenerateOptions;
  requireKnownKeys(op, 'option', o, KEYS);
  const maxNewTokens = o.maxNewTokens === undefined ? 20 : integer(op, 'options.maxNewTokens', o.maxNewTokens, 0);
  const temperature = o.temperature === undefined ? 1 : finite(op, 'options.temperature', o.temperature, v => v >= 0, '>= 0');
  const topK = o.topK === undefined ? 0 : integer(op, 'options.topK', o.topK, 0);
  const topP = o.topP === undefined ? 1 : finite(op, 'options.topP', o.topP, v => v > 0 && v <= 1, 'in (0, 1]');
  const repetitionPenalty = o.repetitionPenalty === undefined ? 1
    : finite(op, 'options.repetitionPenalty', o.repetitionPenalty, v => v > 0, '> 0');
  const seed = o.seed === undefined ? 0 : integer(op, 'options.seed', o.seed, 0);
  if (seed > 2 ** 32 - 1) fail(op, `options.seed must be below 2^32, got ${seed}`);
  const stopTokens = new Set<number>();
  if (o.stopTokens !== undefined) {
    if (!Array.isArray(o.stopTokens)) fail(op, `options.stopTokens must be an array of token ids, got ${describeValue(o.stopTokens)}`);
    o.stopTokens.forEach((t, i) => {
      if (!Number.isInteger(t) || t < 0 || t >= vocab) fail(op, `options.stopTokens[${i}] = ${String(t)} is not a token id in [0, ${vocab})`);
      stopTokens.add(t);
    });
  }
  let signal: AbortSignal | null = null;
  if (o.signal != null) {
    const s = o.signal as {aborted?: unknown; addEventListener?: unknown};
    if (typeof s !== 'object' || typeof s.aborted !== 'boolean') fail(op, `options.signal must be an AbortSignal, got ${describeValue(o.signal)}`);
    signal = o.signal;
  }
  if (o.returnLogits !== undefined && typeof o.returnLogits !== 'boolean') {
    fail(op, `options.returnLogits must be a boolean, got ${describeValue(o.returnLogits)}`);
  }
  const returnLogits = o.returnLogits ?? false;
  const sample = (o.temperature !== undefined && temperature > 0) || o.topK !== undefined || o.topP !== undefined ||
      o.seed !== undefined;
  if (sample && temperature === 0 && o.temperature !== undefined) {
    // temperature 0 asks for greedy decoding even with the other sampling options.
    return {maxNewTokens, seed, stopTokens, signal, returnLogits,
      sampling: {sample: false, temperature: 1, topK, topP, repetitionPenalty}};
  }
  return {maxNewTokens, seed, stopTokens, signal, returnLogits,
    sampling: {sample, temperature: temperature || 1, topK, topP, repetitionPenalty}};
}

/** Prompts as arrays of token ids, each checked against the vocabulary and non-empty. */
export function checkPrompts(op: string, inputIds: unknown, attentionMask: unknown, vocab: number): number[][] {
  let prompts: number[][];
  if (inputIds instanceof tf.Tensor) {
    if (inputIds.isDisposed) fail(op, 'inputIds has been disposed');
    if (inputIds.dtype !== 'int32') fail(op, `inputIds must have dtype int32, got ${inputIds.dtype}`);
    if (inputIds.rank !== 1 && inputIds.rank !== 2) fail(op, `inputIds must be [S] or [B, S], got rank ${inputIds.rank}`);
    const rows = (inputIds.rank === 1 ? [inputIds.arraySync()] : inputIds.arraySync()) as number[][];
    if (attentionMask != null) {
      if (!(attentionMask instanceof tf.Tensor) || attentionMask.isDisposed) fail(op, 'options.attentionMask must be a tensor');
      const mask = (attentionMask.rank === 1 ? [attentionMask.arraySync()] : attentionMask.arraySync()) as number[][];
      if (mask.length !== rows.length || mask.some((m, b) => m.length !== rows[b].length)) {
        fail(op, `options.attentionMask [${attentionMask.shape.join(', ')}] does not match inputIds [${inputIds.shape.join(', ')}]`);
      }
      prompts = rows.map((row, b) => row.filter((_, i) => mask[b][i] !== 0));
    } else {
      prompts = rows;
    }
  } else if (Array.isArray(inputIds) && inputIds.length > 0 && inputIds.every(x => typeof x === 'number')) {
    prompts = [inputIds as number[]];
  } else if (Array.isArray(inputIds) && inputIds.every(x => Array.isArray(x) || ArrayBuffer.isView(x))) {
    prompts = (inputIds as ArrayLike<number>[]).map(row => Array.from(row));
  } else {
    fail(op, `inputIds must be token ids (number[]), one array per sequence (number[][]) or an int32 tensor, got ${
        describeValue(inputIds)}`);
  }
  if (attentionMask != null && !(inputIds instanceof tf.Tensor)) fail(op, 'options.attentionMask goes with a tensor of padded inputIds');
  if (prompts.length === 0) fail(op, 'inputIds holds no sequence');
  prompts.forEach((row, b) => {
    if (row.length === 0) fail(op, `inputIds[${b}] is empty: a prompt needs at least one token`);
    row.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) fail(op, `inputIds[${b}][${i}] = ${String(id)} is not a token id in [0, ${vocab})`);
    });
  });
  return prompts;
}
