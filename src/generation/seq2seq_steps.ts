/**
 * How an encoder–decoder generator advances its decoder rows by one token:
 *
 * - CachedSeq2SeqSteps: the graph runs once up to the encoder's output for
 *   the sources; the fused decoder (TransformerDecoderStack with
 *   cross-attention) fills each layer's cross keys/values from it at the first
 *   step (the static cross cache) and then computes only the new token's row,
 *   with a self-attention cache per row. Rows of one source (beams) share its
 *   encoder rows; beam search reorders the self-attention caches in place.
 * - RecomputeSeq2SeqSteps: the converted graph run on the source and the whole
 *   decoder sequence at every step (the encoder recomputed too): for graphs the
 *   recogniser does not understand, and as the baseline.
 *
 * Rows are source-major: row = source · rowsPerSource + i.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {getGpuPrecision} from '../config';
import {runOp} from '../dispatch/dispatch';
import type {WeightPrecision} from '../op_table';
import type {DecoderModelArgs} from '../ops/decoder_args';
import {reorderCache} from '../ops/reorder_cache';
import {createDecoderCache, DecoderCache, decoderStackInputs, decoderStepAttrs} from '../ops/transformer_decoder_stack';
import {runFusedEncoder} from './graph_encoder';
import {rows} from './step_models';
import {GraphSeq2Seq, seq2seqFeeds, SourceBatch} from './graph_seq2seq';

export interface Seq2SeqStepModel {
  readonly vocab: number;
  /** Decoder positions (prompt + new tokens) the model takes. */
  readonly positions: number;
  /** Starts rows for the sources (rowsPerSource each) with their decoder prompts; the logits after each prompt. */
  begin(source: SourceBatch, rowsPerSource: number, prompts: number[][], capacity: number): Float32Array[];
  /** One token per row (null: finished); the logits after it (null for finished rows). */
  next(tokens: Array<number | null>): Array<Float32Array | null>;
  /** Row r continues old row sourceRows[r] (beam search; within one source's rows). */
  reorder(sourceRows: number[]): void;
  end(): void;
}

/** Each source row repeated `times` (source-major). */
function repeatRows<T extends tf.Tensor>(t: T, times: number): T {
  if (times === 1) return tf.clone(t);
  const index = tf.tensor1d(Array.from({length: t.shape[0] * times}, (_, r) => Math.floor(r / times)), 'int32');
  const out = tf.gather(t, index) as T;
  index.dispose();
  return out;
}

/** The encoder's output for a source batch: the graph run up to it. */
export function runEncoder(model: GraphModel, built: GraphSeq2Seq, source: SourceBatch, fused = true): tf.Tensor3D {
  return tf.tidy(() => {
    const ids = tf.zeros([source.input.shape[0], 1], 'int32') as tf.Tensor2D;
    const feeds = seq2seqFeeds(built.recognised, source, ids);
    if (!fused || typeof built.encoder === 'string') return model.execute(feeds, built.encoderOutput) as tf.Tensor3D;
    // The embeddings from the graph, the layers fused (padding skipped).
    const embeddings = model.execute(feeds, built.encoder.input) as tf.Tensor3D;
    return runFusedEncoder(built.encoder, embeddings, source.mask);
  });
}

export class CachedSeq2SeqSteps implements Seq2SeqStepModel {
  readonly vocab: number;
  readonly positions: number;
  private cache: DecoderCache | null = null;
  private absent: tf.Tensor | null = null;
  private batch = 0;

  constructor(private readonly graph: GraphModel, private readonly built: GraphSeq2Seq, private readonly model: DecoderModelArgs,
      private readonly precision: WeightPrecision) {
    this.vocab = model.dims.vocab;
    this.positions = built.positions;
  }

  private run(ids: tf.Tensor2D, fresh: number[], encoderStates: tf.Tensor | null, logitsRows: 'last' | 'all' = 'last'): tf.Tensor {
    const cache = this.cache as DecoderCache;
    const absent = this.absent as tf.Tensor;
    const newLengths = tf.tensor1d(fresh, 'int32');
    const step = {
      inputIds: ids, pastLengths: cache.pastLengths, newLengths, keyCache: cache.keyCache, valueCache: cache.valueCache,
      encoderStates, sourceMask: cache.sourceMask ?? null, crossKeyCache: cache.crossKeyCache ?? null,
      crossValueCache: cache.crossValueCache ?? null,
    };
    const [logits, keyCache, valueCache, lengths, crossKeyCache, crossValueCache] = tf.tidy(() => runOp('TransformerDecoderStack',
        decoderStackInputs(this.model, step, () => absent), decoderStepAttrs(this.model, step, {
          logitsRows, weightPrecision: this.precision, precision: getGpuPrecision(),
        })));
    tf.dispose([ids, newLengths, cache.keyCache, cache.valueCache, cache.pastLengths]);
    if (cache.crossKeyCache && cache.crossKeyCache !== crossKeyCache) tf.dispose([cache.crossKeyCache]);
    if (cache.crossValueCache && cache.crossValueCache !== crossValueCache) tf.dispose([cache.crossValueCache]);
    this.cache = {keyCache, valueCache, pastLengths: lengths as tf.Tensor1D, crossKeyCache, crossValueCache, sourceMask: cache.sourceMask};
    return logits;
  }

  /** Starts the rows and runs the prompts; `logitsRows` 'all' gives [B, T, V] logits (the verification's probe). */
  start(source: SourceBatch, rowsPerSource: number, prompts: number[][], capacity: number, logitsRows: 'last' | 'all'): tf.Tensor {
    this.end();
    this.batch = prompts.length;
    const {numLayers, numKvHeads, headDim} = this.model.attrs;
    const encoded = runEncoder(this.graph, this.built, source);
    const encoderStates = repeatRows(encoded, rowsPerSource);
    encoded.dispose();
    const sourceLength = encoderStates.shape[1];
    this.cache = createDecoderCache(numLayers, this.batch, numKvHeads, capacity, headDim, {sourceLength});
    if (source.mask) this.cache.sourceMask = repeatRows(tf.cast(source.mask, 'int32') as tf.Tensor2D, rowsPerSource);
    this.absent = tf.zeros([0]);
    const longest = Math.max(...prompts.map(p => p.length));
    const ids = new Int32Array(this.batch * longest);
    prompts.forEach((p, b) => ids.set(p, b * longest));
    try {
      return this.run(tf.tensor2d(ids, [this.batch, longest], 'int32'), prompts.map(p => p.length), encoderStates, logitsRows);
    } finally {
      encoderStates.dispose();
    }
  }

  begin(source: SourceBatch, rowsPerSource: number, prompts: number[][], capacity: number): Float32Array[] {
    return rows(this.start(source, rowsPerSource, prompts, capacity, 'last'), this.batch, this.vocab);
  }

  next(tokens: Array<number | null>): Array<Float32Array | null> {
    const ids = tf.tensor2d(tokens.map(t => t ?? 0), [this.batch, 1], 'int32');
    const logits = rows(this.run(ids, tokens.map(t => (t === null ? 0 : 1)), null), this.batch, this.vocab);
    return logits.map((row, b) => (tokens[b] === null ? null : row));
  }

  reorder(sourceRows: number[]): void {
    const cache = this.cache as DecoderCache;
    if (sourceRows.every((r, b) => r === b)) return;
    const order = tf.tensor1d(sourceRows, 'int32');
    const next = reorderCache(cache, order);
    order.dispose();
    if (next.keyCache !== cache.keyCache) cache.keyCache.dispose();
    if (next.valueCache !== cache.valueCache) cache.valueCache.dispose();
    if (next.pastLengths !== cache.pastLengths) cache.pastLengths.dispose();
    this.cache = next;
  }

  end(): void {
    if (this.cache) {
      const c = this.cache;
      tf.dispose([c.keyCache, c.valueCache, c.pastLengths, ...[c.crossKeyCache, c.crossValueCache, c.sourceMask]
        .filter((t): t is tf.Tensor => !!t)]);
    }
    this.absent?.dispose();
    this.cache = null;
    this.absent = null;
  }
}

export class RecomputeSeq2SeqSteps implements Seq2SeqStepModel {
  readonly vocab: number;
  readonly positions: number;
  private source: SourceBatch | null = null;
  private sequences: number[][] = [];

  constructor(private readonly graph: GraphModel, private readonly feeds: (source: SourceBatch, ids: tf.Tensor2D) => tf.NamedTensorMap,
      private readonly logitsName: string, vocab: number, positions: number) {
    this.vocab = vocab;
    this.positions = positions;
  }

  begin(source: SourceBatch, rowsPerSource: number, prompts: number[][]): Float32Array[] {
    this.end();
    this.source = {
      input: repeatRows(source.input, rowsPerSource),
      mask: source.mask ? repeatRows(tf.cast(source.mask, 'int32') as tf.Tensor2D, rowsPerSource) : null,
    };
    this.sequences = prompts.map(p => p.slice());
    const logits = this.run(prompts.map((_, b) => b));
    return prompts.map((_, b) => logits.get(b) as Float32Array);
  }

  next(tokens: Array<number | null>): Array<Float32Array | null> {
    const active: number[] = [];
    tokens.forEach((t, b) => {
      if (t === null) return;
      this.sequences[b].push(t);
      active.push(b);
    });
    const logits = this.run(active);
    return tokens.map((_, b) => logits.get(b) ?? null);
  }

  reorder(sourceRows: number[]): void {
    this.sequences = sourceRows.map(r => this.sequences[r].slice());
  }

  /** Logits after the last token of each of `which` rows (decoder rows right-padded: causal, so padding is never read). */
  private run(which: number[]): Map<number, Float32Array> {
    const out = new Map<number, Float32Array>();
    if (which.length === 0 || !this.source) return out;
    const source = this.source;
    const longest = Math.max(...which.map(b => this.sequences[b].length));
    const ids = new Int32Array(which.length * longest);
    which.forEach((b, row) => ids.set(this.sequences[b], row * longest));
    const logits = tf.tidy(() => {
      const index = tf.tensor1d(which, 'int32');
      const rowsSource: SourceBatch = {input: tf.gather(source.input, index), mask: source.mask ? tf.gather(source.mask, index) : null};
      const result = this.graph.execute(this.feeds(rowsSource, tf.tensor2d(ids, [which.length, longest], 'int32')), this.logitsName) as tf.Tensor;
      const last = tf.tensor1d(which.map((b, row) => row * longest + this.sequences[b].length - 1), 'int32');
      return tf.gather(tf.reshape(result, [which.length * longest, this.vocab]), last);
    });
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    which.forEach((b, row) => out.set(b, values.slice(row * this.vocab, (row + 1) * this.vocab)));
    return out;
  }

  end(): void {
    if (this.source) tf.dispose([this.source.input, ...(this.source.mask ? [this.source.mask] : [])]);
    this.source = null;
    this.sequences = [];
  }
}
