/** What the race needs from an engine: load the model, embed one batch (work finished), free it. */
export interface RaceEngine {
  readonly name: string;
  /** Loads the model; resolves to null when ready, or to why the engine cannot run here. */
  prepare(): Promise<string | null>;
  /** Mean-pooled, normalised embeddings of one batch, padded to its longest sentence. */
  embedBatch(sentences: string[]): Promise<Float32Array[]>;
  dispose(): void | Promise<void>;
}
