/**
 * Our cached generator: BetterTransformer.generator on the converted tfjs graph model
 * (.deps/bench-decoders/<model>/tfjs), on the cpu backend (fp32 or bfloat16 weights) or tfjs-node (fp32).
 *
 * The generator API it uses (src/generation/generator.ts):
 *   const generator = BetterTransformer.generator(model, {weightPrecision: 'float32' | 'bfloat16'});
 *   generator.report            // {mode: 'cached' | 'recompute', reason, implementation, verification, ...}
 *   for await (const step of generator.stream(prompts, {maxNewTokens})) { step.step; step.tokens; }
 *   generator.dispose();        // frees the generator's own tensors; the graph's weights stay (disposed here)
 * Everything that depends on that API is in this file. No stop tokens are given, so every sequence runs
 * maxNewTokens greedy steps (greedy is the default: no temperature, topK, topP or seed).
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {AnyGenerator, BetterTransformer} from '../../../src';
import {readModelArtifacts} from '../../../src/io/model_files';
import {DecoderModel, GenerationEngine, GenerationRun, RunOptions, StepClock} from '../engine';

export type GeneratorBackend = 'cpu' | 'tensorflow';
export type WeightPrecision = 'float32' | 'bfloat16';

const BACKEND_PACKAGES: Record<GeneratorBackend, string> = {
  cpu: '@tensorflow/tfjs-backend-cpu',
  tensorflow: '@tensorflow/tfjs-node',
};

type Generator = Awaited<ReturnType<typeof BetterTransformer.generator>>;

export class BetterTransformerEngine implements GenerationEngine {
  private graph: GraphModel | null = null;
  private generator: AnyGenerator | null = null;
  /** What the generator reported: implementation and verification, for the results. */
  notes: string | null = null;

  constructor(readonly name: string, private readonly backend: GeneratorBackend,
              private readonly weightPrecision: WeightPrecision) {}

  async prepare(model: DecoderModel): Promise<string | null> {
    try {
      require(BACKEND_PACKAGES[this.backend]);
    } catch (e) {
      return `${BACKEND_PACKAGES[this.backend]} did not load: ${(e as Error).message.split('\n')[0]}`;
    }
    if (!(await tf.setBackend(this.backend))) return `backend ${this.backend} failed to initialise`;
    this.graph = loadGraphModelSync(readModelArtifacts(model.tfjsDir)) as unknown as GraphModel;
    try {
      this.generator = await BetterTransformer.generator(this.graph, {weightPrecision: this.weightPrecision});
    } catch (e) {
      this.dispose();
      return `BetterTransformer.generator failed: ${(e as Error).message.split('\n')[0]}`;
    }
    const report = this.generator.report;
    if (report.mode !== 'cached') {
      const reason = report.reason ?? 'no reason given';
      this.dispose();
      return `the generator would not cache keys/values (${report.mode}): ${reason}`;
    }
    const v = report.verification;
    this.notes = `implementation ${report.implementation}` +
        (v ? `, verified against the graph: max relative difference ${v.maxRelativeDifference.toExponential(1)}` +
             (v.bfloat16RelativeDifference !== null ? ` (bfloat16 weights ${v.bfloat16RelativeDifference.toExponential(1)})` : '') : '');
    return null;
  }

  async run(prompts: number[][], options: RunOptions): Promise<GenerationRun> {
    if (!this.generator) throw new Error(`${this.name} is not prepared`);
    const clock = new StepClock(prompts.length, options.memoryAt, () => tf.memory().numTensors);
    for await (const step of this.generator.stream(prompts, {maxNewTokens: options.maxNewTokens})) {
      if (step.step !== clock.steps) throw new Error(`${this.name}: step ${step.step} came after ${clock.steps} steps`);
      if (step.tokens.some(t => t === null)) throw new Error(`${this.name}: a sequence finished early at step ${step.step}`);
      clock.step(step.tokens as number[]);
    }
    if (clock.steps !== options.maxNewTokens) {
      throw new Error(`${this.name} stopped after ${clock.steps} of ${options.maxNewTokens} new tokens`);
    }
    return clock.finish();
  }

  dispose(): void {
    this.generator?.dispose();
    this.generator = null;
    this.graph?.dispose();
    this.graph = null;
  }
}
