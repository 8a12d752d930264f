/** What the generation benchmark needs from an engine, and the clock every engine times its steps with. */
import * as fs from 'fs';
import * as path from 'path';

/** One model of tools/decoder_bench (.deps/bench-decoders/<name>), as its manifest.json describes it. */
export interface DecoderModel {
  name: string;
  dir: string;
  /** tfjs graph model: input_ids, attention_mask (int32 [batch, seq]) -> logits [batch, seq, vocab]. */
  tfjsDir: string;
  /** transformers.js layout: config.json, generation_config.json, onnx/model.onnx. */
  onnxDir: string;
  modelType: string;
  vocabSize: number;
  /** Positions the model has (GPT-2: n_positions, Mistral: max_position_embeddings). */
  maxPositions: number;
  parameters: number;
}

export interface RunOptions {
  maxNewTokens: number;
  /** New-token numbers (1 = the first new token) after which to sample memory. */
  memoryAt?: number[];
}

export interface MemorySample {
  /** The new-token number the sample was taken after (1 = the first new token). */
  token: number;
  rssMiB: number;
  /** tf.memory().numTensors for tfjs engines; null where the engine holds no tfjs tensors. */
  numTensors: number | null;
}

export interface GenerationRun {
  /** New tokens per sequence (maxNewTokens each), greedy. */
  tokens: number[][];
  /** From the call to the first new token: the prompt's forward pass (prefill) and the first argmax. */
  prefillMs: number;
  /**
   * stepTimesMs[i]: wall time of decode step i + 1, which feeds new token i (at position promptLength + i)
   * and yields new token i + 1. maxNewTokens - 1 entries.
   */
  stepTimesMs: number[];
  totalMs: number;
  memory: MemorySample[];
}

export interface GenerationEngine {
  readonly name: string;
  /** After prepare(): anything the results should say about how the engine runs (e.g. what it verified). */
  readonly notes?: string | null;
  /** Loads the model; resolves to null when ready, or to why the engine cannot run here. */
  prepare(model: DecoderModel): Promise<string | null>;
  /** Greedy generation of maxNewTokens tokens for every prompt (all of one length unless the engine says otherwise). */
  run(prompts: number[][], options: RunOptions): Promise<GenerationRun>;
  /**
   * Stateless engines only (no cache: a step's cost depends only on its position): the median wall time of one
   * decode step at each position, i.e. one forward pass over position + 1 tokens and the argmax, measured
   * directly without generating the tokens before it.
   */
  stepAtPositions?(prompt: number[], positions: number[], repeats: number): Promise<Map<number, number>>;
  dispose(): void | Promise<void>;
}

export function rssMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

/** Timestamps an engine's new tokens as they arrive and turns them into a GenerationRun. */
export class StepClock {
  private readonly start = performance.now();
  private readonly stamps: number[] = [];
  readonly tokens: number[][];
  readonly memory: MemorySample[] = [];

  constructor(batchSize: number, private readonly memoryAt: number[] = [],
              private readonly tensorCount: () => number | null = () => null) {
    this.tokens = Array.from({length: batchSize}, () => []);
  }

  /** Called once per step with one new token per sequence. */
  step(tokens: ArrayLike<number>): void {
    this.stamps.push(performance.now());
    for (let r = 0; r < this.tokens.length; r++) this.tokens[r].push(tokens[r]);
    const n = this.stamps.length;
    if (this.memoryAt.includes(n)) {
      // A full collection first (node --expose-gc, as npm run bench:generate runs it): RSS then measures
      // what is alive, not how far the collector lags behind the logits arrays of earlier steps.
      (globalThis as {gc?: () => void}).gc?.();
      // (Only the long run samples memory, at 4 steps: the collections lengthen the following steps, not
      // the medians over position windows reported.)
      this.memory.push({token: n, rssMiB: rssMiB(), numTensors: this.tensorCount()});
    }
  }

  get steps(): number {
    return this.stamps.length;
  }

  finish(): GenerationRun {
    const end = performance.now();
    const stepTimesMs: number[] = [];
    for (let i = 1; i < this.stamps.length; i++) stepTimesMs.push(this.stamps[i] - this.stamps[i - 1]);
    return {
      tokens: this.tokens, prefillMs: this.stamps.length > 0 ? this.stamps[0] - this.start : NaN, stepTimesMs,
      totalMs: end - this.start, memory: this.memory,
    };
  }
}

interface Manifest {
  model: string;
  model_type: string;
  parameters: number;
  config: Record<string, unknown>;
  complete?: boolean;
}

/** The model built by tools/decoder_bench/make_models.py, or why it is missing. */
export function readDecoderModel(root: string, name: string): DecoderModel | string {
  const dir = path.join(root, '.deps', 'bench-decoders', name);
  const manifestPath = path.join(dir, 'manifest.json');
  const hint = '.deps/minilm-venv/bin/python tools/decoder_bench/make_models.py (after tools/decoder_bench/setup.sh)';
  if (!fs.existsSync(manifestPath)) return `no ${name} in ${dir}: run ${hint}`;
  const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8')) as Manifest;
  if (!manifest.complete) return `${name} in ${dir} is incomplete: rerun ${hint}`;
  const config = manifest.config;
  return {
    name, dir, tfjsDir: path.join(dir, 'tfjs'), onnxDir: path.join(dir, 'onnx'), modelType: manifest.model_type,
    vocabSize: Number(config.vocab_size),
    maxPositions: Number(config.n_positions ?? config.max_position_embeddings),
    parameters: manifest.parameters,
  };
}
