/**
 * tfjs engines for the race: the converted all-MiniLM-L6-v2 graph (float32
 * weights, .deps/minilm-tfjs-fp32) on a tfjs backend, as converted
 * ("original") or after BetterTransformer.transform ("transformed").
 */
import * as tf from '@tensorflow/tfjs-core';
import {SentenceEmbedder} from '../../src/embeddings/sentence_embedder';
import {toBetterTransformer} from '../../src/embeddings/transform_model';
import {RaceEngine} from './race_engine';

type Backend = 'cpu' | 'wasm' | 'tensorflow';

const BACKEND_PACKAGES: Record<Backend, string> = {
  cpu: '@tensorflow/tfjs-backend-cpu',
  wasm: '@tensorflow/tfjs-backend-wasm',
  tensorflow: '@tensorflow/tfjs-node',
};

export class TfjsRaceEngine implements RaceEngine {
  private embedder: SentenceEmbedder | null = null;

  constructor(readonly name: string, private readonly backend: Backend, private readonly transformed: boolean,
              private readonly modelDir: string) {}

  async prepare(): Promise<string | null> {
    try {
      require(BACKEND_PACKAGES[this.backend]);
    } catch (e) {
      return `${BACKEND_PACKAGES[this.backend]} is not installed`;
    }
    if (!(await tf.setBackend(this.backend))) return `backend ${this.backend} failed to initialise`;
    const original = SentenceEmbedder.fromDirectory(this.modelDir);
    if (!this.transformed) {
      this.embedder = original;
      return null;
    }
    try {
      const result = toBetterTransformer(original.model);
      this.embedder = original.withModel(result.model);
      original.dispose();
      const layers = (result.report?.fused ?? []).reduce((n, b) => n + (b.kind === 'attention' ? 0 : b.layers), 0);
      return layers > 0 ? null : `BetterTransformer fused no encoder layer (${JSON.stringify(result.report?.skipped ?? [])})`;
    } catch (e) {
      original.dispose();
      return `BetterTransformer not available: ${(e as Error).message}`;
    }
  }

  async embedBatch(sentences: string[]): Promise<Float32Array[]> {
    if (!this.embedder) throw new Error(`${this.name} is not prepared`);
    return this.embedder.embed(sentences, {batchSize: sentences.length}).embeddings;
  }

  dispose(): void {
    this.embedder?.dispose();
    this.embedder = null;
  }
}
