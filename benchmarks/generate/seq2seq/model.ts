/**
 * The encoder-decoder part of the generation benchmark: the models of tools/seq2seq_bench
 * (.deps/bench-seq2seq/<name>), the engine contract, seeded sources and the beam search the harness runs where
 * an engine has no beam search of its own.
 */
import * as fs from 'fs';
import * as path from 'path';
import {makePrompts} from '../prompts';

/** One model of tools/seq2seq_bench, as its manifest.json describes it. */
export interface Seq2SeqModel {
  name: string;
  dir: string;
  /** tfjs graph model: input_ids, attention_mask, decoder_input_ids (int32) -> logits [batch, decoder seq, vocab]. */
  tfjsDir: string;
  /** The encoder alone (t5-small): input_ids, attention_mask -> last_hidden_state; null where not built. */
  tfjsEncoderDir: string | null;
  /** transformers.js layout: config.json, generation_config.json, onnx/encoder_model.onnx, onnx/decoder_model_merged.onnx. */
  onnxDir: string;
  modelType: string;
  vocabSize: number;
  decoderStartTokenId: number;
  padTokenId: number;
  parameters: number;
  /** The build's checks (relative differences against PyTorch), for the results. */
  checks: Record<string, number | string>;
}

export interface Seq2SeqRunOptions {
  maxNewTokens: number;
  /** 1: greedy; more: beam search with this many beams (no EOS, no length penalty effect: all beams equally long). */
  numBeams: number;
}

export interface Seq2SeqRun {
  /** New tokens per source (the best beam with beams), maxNewTokens each, decoder start token excluded. */
  tokens: number[][];
  /** The whole call: encoder, every decoder step, the search. */
  totalMs: number;
  /** Median wall time of a decode step after the first (null where the engine cannot time steps). */
  msPerStep: number | null;
  /** From the call to the first new token: the encoder and the first decoder step (null where not timed). */
  firstTokenMs: number | null;
}

export interface Seq2SeqEngine {
  readonly name: string;
  /** After prepare(): anything the results should say about how the engine runs. */
  readonly notes?: string | null;
  /** Why this engine cannot run with numBeams (null: it can). */
  unsupported(numBeams: number): string | null;
  /** Loads the model; resolves to null when ready, or to why the engine cannot run here. */
  prepare(model: Seq2SeqModel): Promise<string | null>;
  /** Generates maxNewTokens tokens for every source (all of one length, no padding). */
  run(sources: number[][], options: Seq2SeqRunOptions): Promise<Seq2SeqRun>;
  dispose(): void | Promise<void>;
}

interface Manifest {
  model: string;
  model_type: string;
  parameters: number;
  config: Record<string, unknown>;
  checks: Record<string, number | string>;
  tfjs_encoder: {dir: string} | null;
  complete?: boolean;
}

/** The model built by tools/seq2seq_bench/make_models.py, or why it is missing. */
export function readSeq2SeqModel(root: string, name: string): Seq2SeqModel | string {
  const dir = path.join(root, '.deps', 'bench-seq2seq', name);
  const manifestPath = path.join(dir, 'manifest.json');
  const hint = '.deps/minilm-venv/bin/python tools/seq2seq_bench/make_models.py (after tools/decoder_bench/setup.sh)';
  if (!fs.existsSync(manifestPath)) return `no ${name} in ${dir}: run ${hint}`;
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  if (!manifest.complete) return `${name} in ${dir} is incomplete or failed its checks: rerun ${hint}`;
  const config = manifest.config;
  return {
    name, dir, tfjsDir: path.join(dir, 'tfjs'),
    tfjsEncoderDir: manifest.tfjs_encoder ? path.join(dir, manifest.tfjs_encoder.dir) : null,
    onnxDir: path.join(dir, 'onnx'), modelType: manifest.model_type, vocabSize: Number(config.vocab_size),
    decoderStartTokenId: Number(config.decoder_start_token_id), padTokenId: Number(config.pad_token_id),
    parameters: manifest.parameters, checks: manifest.checks,
  };
}

/**
 * Seeded random source ids in [2, vocab - 2]: clear of T5's pad/EOS (0, 1) and Marian's EOS (0) and pad
 * (vocab - 1). Row r is the same for every batch size.
 */
export function makeSources(batchSize: number, length: number, vocabSize: number, seed = 4321): number[][] {
  return makePrompts(batchSize, length, vocabSize - 3, seed).map(row => row.map(t => t + 2));
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Beam search state for `batch` sources × `beams` rows, as Hugging Face's beam search without EOS: scores are
 * sums of log-softmax; at the first step only each source's first beam is live; each step keeps the best
 * `beams` of beams × vocab candidates per source. With no EOS every beam has the same length, so the length
 * penalty does not change the order and the best beam is the highest score.
 */
export class BeamSearch {
  readonly rows: number;
  private scores: Float64Array;
  private sequences: number[][];
  private stepCount = 0;

  constructor(readonly batch: number, readonly beams: number, readonly vocab: number) {
    this.rows = batch * beams;
    this.scores = new Float64Array(this.rows);
    for (let b = 0; b < batch; b++) for (let k = 1; k < beams; k++) this.scores[b * beams + k] = -Infinity;
    this.sequences = Array.from({length: this.rows}, () => []);
  }

  /**
   * One step on the rows' next-token logits (rows × vocab, row-major, `stride` floats apart, starting at
   * `offset`). Returns, for each new row, the row it continues (`parents`) and its new token.
   */
  step(logits: Float32Array, stride = this.vocab, offset = 0): {parents: Int32Array; tokens: Int32Array} {
    const {batch, beams, vocab} = this;
    const parents = new Int32Array(this.rows);
    const tokens = new Int32Array(this.rows);
    const nextScores = new Float64Array(this.rows);
    const candScore = new Float64Array(beams);
    const candRow = new Int32Array(beams);
    const candToken = new Int32Array(beams);
    for (let b = 0; b < batch; b++) {
      candScore.fill(-Infinity);
      for (let k = 0; k < beams; k++) {
        const row = b * beams + k;
        const base = this.scores[row];
        if (base === -Infinity) continue;
        const o = offset + row * stride;
        let max = -Infinity;
        for (let v = 0; v < vocab; v++) if (logits[o + v] > max) max = logits[o + v];
        let sum = 0;
        for (let v = 0; v < vocab; v++) sum += Math.exp(logits[o + v] - max);
        const shift = base - max - Math.log(sum);
        const worst = () => candScore[beams - 1];
        for (let v = 0; v < vocab; v++) {
          const s = logits[o + v] + shift;
          if (s <= worst()) continue;
          // Insert into the sorted candidate list (descending), dropping the last.
          let i = beams - 1;
          while (i > 0 && candScore[i - 1] < s) {
            candScore[i] = candScore[i - 1];
            candRow[i] = candRow[i - 1];
            candToken[i] = candToken[i - 1];
            i--;
          }
          candScore[i] = s;
          candRow[i] = row;
          candToken[i] = v;
        }
      }
      for (let k = 0; k < beams; k++) {
        parents[b * beams + k] = candRow[k];
        tokens[b * beams + k] = candToken[k];
        nextScores[b * beams + k] = candScore[k];
      }
    }
    this.scores = nextScores;
    this.sequences = Array.from(parents, (p, r) => [...this.sequences[p], tokens[r]]);
    this.stepCount++;
    return {parents, tokens};
  }

  /** Every row's tokens so far (for engines that recompute from the sequences). */
  rowTokens(row: number): number[] {
    return this.sequences[row];
  }

  /** The best beam of each source (beams are kept sorted by score, so the first). */
  best(): number[][] {
    return Array.from({length: this.batch}, (_, b) => this.sequences[b * this.beams]);
  }
}

/** Greedy argmax of each row's logits (rows × vocab, `stride` apart from `offset`). */
export function argmaxRows(logits: Float32Array, rows: number, vocab: number, stride = vocab, offset = 0): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = offset + r * stride;
    let best = 0;
    let max = -Infinity;
    for (let v = 0; v < vocab; v++) {
      if (logits[o + v] > max) {
        max = logits[o + v];
        best = v;
      }
    }
    out[r] = best;
  }
  return out;
}
