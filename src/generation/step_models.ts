/**
 * The two ways a generator advances a batch of sequences by one token:
 *
 * - CachedSteps: the fused decoder (TransformerDecoderStack) with a key/value
 *   cache per sequence, preallocated for the whole generation: the prompt is
 *   one prefill call, then each step computes only the new token's row.
 *   Sequences keep their own lengths, so prompts of different lengths need no
 *   padding and a finished sequence costs nothing.
 * - RecomputeSteps: the converted graph run on the whole sequence at every
 *   step (right-padded batch with its attention mask; the logits of each
 *   sequence's last real token), for graphs the recogniser does not
 *   understand. Quadratic in the length, but exactly the graph.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {getGpuPrecision} from '../config';
import {runOp} from '../dispatch/dispatch';
import type {WeightPrecision} from '../op_table';
import type {DecoderModelArgs} from '../ops/decoder_args';
import {createDecoderCache, DecoderCache, decoderStackInputs} from '../ops/transformer_decoder_stack';

export interface StepModel {
  readonly vocab: number;
  /** The longest sequence (prompt + new tokens) the model takes. */
  readonly positions: number;
  /** Starts a batch with room for `capacity` tokens per sequence; the logits after each prompt. */
  begin(prompts: number[][], capacity: number): Float32Array[];
  /** One token per sequence (null: the sequence has finished); the logits after it (null for finished ones). */
  next(tokens: Array<number | null>): Array<Float32Array | null>;
  /** Frees the batch's state (the caches). */
  end(): void;
}

/**
 * Rows of a [B, V] logits tensor as views of one array (the tensor is disposed; the array its data
 * came out as stays the views', so no row is copied).
 */
export function rows(logits: tf.Tensor, batch: number, vocab: number): Float32Array[] {
  const values = logits.dataSync() as Float32Array;
  logits.dispose();
  return Array.from({length: batch}, (_, b) => values.subarray(b * vocab, (b + 1) * vocab));
}

export class CachedSteps implements StepModel {
  readonly vocab: number;
  readonly positions: number;
  private cache: DecoderCache | null = null;
  /** The one empty tensor standing for every absent weight, made once per generation (not per step). */
  private absent: tf.Tensor | null = null;
  private batch = 0;

  constructor(private readonly model: DecoderModelArgs, private readonly precision: WeightPrecision, positions: number) {
    this.vocab = model.dims.vocab;
    this.positions = positions;
  }

  private run(ids: tf.Tensor2D, fresh: number[]): tf.Tensor {
    const cache = this.cache as DecoderCache;
    const absent = this.absent as tf.Tensor;
    const newLengths = tf.tensor1d(fresh, 'int32');
    const [logits, keyCache, valueCache, lengths, ...crossCaches] = tf.tidy(() => runOp('TransformerDecoderStack', decoderStackInputs(this.model, {
      inputIds: ids, pastLengths: cache.pastLengths, newLengths, keyCache: cache.keyCache, valueCache: cache.valueCache,
    }, () => absent), {
      ...this.model.attrs, logitsRows: 'last', weightPrecision: this.precision, precision: getGpuPrecision(),
    }));
    // A decoder-only model has no cross caches: the op passes its placeholders through.
    tf.dispose(crossCaches);
    // The old tensors share their data with the new caches where the kernel wrote in place: disposing them frees nothing more.
    tf.dispose([ids, newLengths, cache.keyCache, cache.valueCache, cache.pastLengths]);
    this.cache = {keyCache, valueCache, pastLengths: lengths as tf.Tensor1D};
    return logits;
  }

  begin(prompts: number[][], capacity: number): Float32Array[] {
    this.end();
    this.batch = prompts.length;
    const {numLayers, numKvHeads, headDim} = this.model.attrs;
    this.cache = createDecoderCache(numLayers, this.batch, numKvHeads, capacity, headDim);
    this.absent = tf.zeros([0]);
    const longest = Math.max(...prompts.map(p => p.length));
    const ids = new Int32Array(this.batch * longest);
    prompts.forEach((p, b) => ids.set(p, b * longest));
    return rows(this.run(tf.tensor2d(ids, [this.batch, longest], 'int32'), prompts.map(p => p.length)), this.batch, this.vocab);
  }

  next(tokens: Array<number | null>): Array<Float32Array | null> {
    const ids = tf.tensor2d(tokens.map(t => t ?? 0), [this.batch, 1], 'int32');
    const logits = rows(this.run(ids, tokens.map(t => (t === null ? 0 : 1))), this.batch, this.vocab);
    return logits.map((row, b) => (tokens[b] === null ? null : row));
  }

  end(): void {
    if (this.cache) tf.dispose([this.cache.keyCache, this.cache.valueCache, this.cache.pastLengths]);
    this.absent?.dispose();
    this.cache = null;
    this.absent = null;
  }
}

/** How to run a converted graph on token ids: its inputs and the logits output. */
export interface GraphInterface {
  tokenInput: string;
  maskInput: string | null;
  /** Past-key-values inputs, fed empty ([2, B, Hkv, 0, D]) so that the graph computes a full forward. */
  pastInputs: string[];
  pastShape: {kvHeads: number; headDim: number} | null;
  logits: string;
  vocab: number;
  positions: number;
}

/**
 * A model run on each whole sequence at every step (no state but the sequences): subclasses say how
 * to get the logits after the last token of some of them.
 */
export abstract class WholeSequenceSteps implements StepModel {
  protected sequences: number[][] = [];

  constructor(readonly vocab: number, readonly positions: number) {}

  /** The logits after the last token of each of `which` sequences. */
  protected abstract run(which: number[]): Map<number, Float32Array>;

  begin(prompts: number[][]): Float32Array[] {
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

  end(): void {
    this.sequences = [];
  }
}

export class RecomputeSteps extends WholeSequenceSteps {
  constructor(private readonly model: GraphModel, private readonly graph: GraphInterface) {
    super(graph.vocab, graph.positions);
  }

  protected run(which: number[]): Map<number, Float32Array> {
    const out = new Map<number, Float32Array>();
    if (which.length === 0) return out;
    // Without a mask input the graph cannot tell padding apart: one sequence at a time.
    const groups = this.graph.maskInput ? [which] : which.map(b => [b]);
    for (const group of groups) {
      const longest = Math.max(...group.map(b => this.sequences[b].length));
      const ids = new Int32Array(group.length * longest), mask = new Int32Array(group.length * longest);
      group.forEach((b, row) => {
        ids.set(this.sequences[b], row * longest);
        mask.fill(1, row * longest, row * longest + this.sequences[b].length);
      });
      const logits = tf.tidy(() => {
        const feeds: tf.NamedTensorMap = {[this.graph.tokenInput]: tf.tensor2d(ids, [group.length, longest], 'int32')};
        if (this.graph.maskInput) feeds[this.graph.maskInput] = tf.tensor2d(mask, [group.length, longest], 'int32');
        for (const name of this.graph.pastInputs) {
          feeds[name] = tf.zeros([2, group.length, this.graph.pastShape?.kvHeads ?? 1, 0, this.graph.pastShape?.headDim ?? 1]);
        }
        const result = this.model.execute(feeds, this.graph.logits) as tf.Tensor;
        // Each sequence's last real position.
        const last = tf.tensor1d(group.map((b, row) => row * longest + this.sequences[b].length - 1), 'int32');
        return tf.gather(tf.reshape(result, [group.length * longest, this.vocab]), last);
      });
      const values = logits.dataSync() as Float32Array;
      logits.dispose();
      group.forEach((b, row) => out.set(b, values.slice(row * this.vocab, (row + 1) * this.vocab)));
    }
    return out;
  }

}
