/**
 * The slot for our encoder–decoder generator: BetterTransformer.generator on the converted tfjs graph model
 * (.deps/bench-seq2seq/<model>/tfjs) on the `cpu` backend.
 *
 * The API it uses (src/generation/generator.ts, seq2seq_generator.ts):
 *   const gen = BetterTransformer.generator(graphModel, {maxLength});
 *   gen.report                  // {mode: 'cached' | 'recompute', reason, implementation, verification, ...}
 *   const {tokens} = await gen.generate(sources, {maxNewTokens, numBeams, decoderStartTokenId});
 *   gen.dispose?.();
 * Everything that depends on that API is in this file, typed loosely so that the harness compiles while the API
 * is being written. If the generator refuses the model (throws), the harness prints why and skips the engine.
 * No stop tokens are given, so every source gets maxNewTokens tokens.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../../../../src';
import {readModelArtifacts} from '../../../../src/io/model_files';
import {Seq2SeqEngine, Seq2SeqModel, Seq2SeqRun, Seq2SeqRunOptions} from '../model';

interface LooseGenerator {
  report?: {mode?: string; reason?: string | null; implementation?: string;
            verification?: {maxRelativeDifference?: number} | null} & Record<string, unknown>;
  generate(sources: number[][], options: Record<string, unknown>): Promise<{tokens: number[][]}>;
  dispose?(): void;
}
type LooseFactory = (model: GraphModel, options: Record<string, unknown>) => LooseGenerator | Promise<LooseGenerator>;

export class BetterTransformerSeq2SeqEngine implements Seq2SeqEngine {
  readonly name = 'cpu generator (BetterTransformer.generator)';
  private graph: GraphModel | null = null;
  private generator: LooseGenerator | null = null;
  private model: Seq2SeqModel | null = null;
  notes: string | null = null;

  /** allowRecompute: also time a generator that fell back to recomputing the graph per token (slow on `cpu`). */
  constructor(private readonly maxLength: number, private readonly allowRecompute = false) {}

  unsupported(): string | null {
    return null;
  }

  async prepare(model: Seq2SeqModel): Promise<string | null> {
    try {
      require('@tensorflow/tfjs-backend-cpu');
    } catch (e) {
      return `@tensorflow/tfjs-backend-cpu did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    if (!(await tf.setBackend('cpu'))) return 'backend cpu failed to initialise';
    this.model = model;
    this.graph = loadGraphModelSync(readModelArtifacts(model.tfjsDir)) as unknown as GraphModel;
    const factory = BetterTransformer.generator as unknown as LooseFactory;
    try {
      this.generator = await factory(this.graph, {maxLength: this.maxLength});
    } catch (e) {
      this.dispose();
      return `BetterTransformer.generator refused the model: ${(e as Error).message.split('\n')[0]}`;
    }
    if (typeof this.generator?.generate !== 'function') {
      this.dispose();
      return 'BetterTransformer.generator returned no generate()';
    }
    const r = this.generator.report;
    if (r?.mode === 'recompute' && !this.allowRecompute) {
      const reason = r.reason ?? 'no reason given';
      this.dispose();
      return `the generator would not cache keys/values (recompute): ${reason} (--generator-recompute times it anyway)`;
    }
    const v = r?.verification?.maxRelativeDifference;
    this.notes = r ? `mode ${r.mode ?? '?'}` + (r.reason ? ` (${r.reason})` : '') +
        (r.implementation ? `, implementation ${r.implementation}` : '') +
        (typeof v === 'number' ? `, verified against the graph: max relative difference ${v.toExponential(1)}` : '') :
        'the generator gave no report';
    return null;
  }

  async run(sources: number[][], options: Seq2SeqRunOptions): Promise<Seq2SeqRun> {
    if (!this.generator || !this.model) throw new Error(`${this.name} is not prepared`);
    const t0 = performance.now();
    const result = await this.generator.generate(sources, {
      maxNewTokens: options.maxNewTokens, numBeams: options.numBeams, decoderStartTokenId: this.model.decoderStartTokenId,
    });
    const totalMs = performance.now() - t0;
    const short = result.tokens.findIndex(t => t.length !== options.maxNewTokens);
    if (short >= 0) {
      throw new Error(`${this.name}: source ${short} got ${result.tokens[short].length} of ${options.maxNewTokens} new tokens`);
    }
    // The generator returns all tokens at once: a second, one-token call times the encoder and first step, and
    // the decode steps are estimated as the rest of the call spread over maxNewTokens - 1 steps.
    let firstTokenMs: number | null = null;
    if (options.maxNewTokens > 1) {
      const t1 = performance.now();
      await this.generator.generate(sources, {maxNewTokens: 1, numBeams: options.numBeams,
                                              decoderStartTokenId: this.model.decoderStartTokenId});
      firstTokenMs = performance.now() - t1;
    }
    return {tokens: result.tokens, totalMs, firstTokenMs,
            msPerStep: firstTokenMs !== null ? (totalMs - firstTokenMs) / (options.maxNewTokens - 1) : null};
  }

  dispose(): void {
    this.generator?.dispose?.();
    this.generator = null;
    this.graph?.dispose();
    this.graph = null;
  }
}
