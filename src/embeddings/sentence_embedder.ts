/**
 * Sentence embeddings from a converted BERT-style graph model: tokenize a
 * batch (padded to its longest sentence), run the graph, mean-pool over the
 * attention mask, L2-normalise. Needs only tfjs-core and tfjs-converter; the
 * model is read with fs, so no tfjs-node is required.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {readModelArtifacts} from '../io/model_files';
import {EmbedderConfig, readEmbedderConfig} from './embedder_config';
import {l2Normalize, meanPool, poolSentences} from './pooling';
import {SentenceTokenizer, TokenizedBatch} from './tokenizer';

export interface EmbedOptions {
  /** Sentences per model call (default 32). */
  batchSize?: number;
  /** Called after each batch with the number of sentences embedded so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface EmbedStats {
  sentences: number;
  batches: number;
  /** Real tokens, special tokens included. */
  realTokens: number;
  /** Padding positions in the batches fed to the model. */
  paddingTokens: number;
}

export interface EmbedResult {
  /** One unit-length (when the model normalises) Float32Array per sentence, in input order. */
  embeddings: Float32Array[];
  stats: EmbedStats;
}

export class SentenceEmbedder {
  constructor(readonly model: GraphModel, readonly tokenizer: SentenceTokenizer, readonly config: EmbedderConfig) {}

  /** Loads model.json + shards, tokenizer files and embedder.json from a directory. */
  static fromDirectory(dir: string): SentenceEmbedder {
    const config = readEmbedderConfig(dir);
    const model = loadGraphModelSync(readModelArtifacts(dir)) as unknown as GraphModel;
    return new SentenceEmbedder(model, SentenceTokenizer.fromDirectory(dir, config.maxSeqLength), config);
  }

  /** The same tokenizer and pooling around another model (e.g. the transformed graph). */
  withModel(model: GraphModel): SentenceEmbedder {
    return new SentenceEmbedder(model, this.tokenizer, this.config);
  }

  /** Runs one tokenized batch; returns [batchSize, hiddenSize] pooled (and normalised) embeddings. */
  embedTokenized(batch: TokenizedBatch): tf.Tensor2D {
    return tf.tidy(() => {
      const shape: [number, number] = [batch.batchSize, batch.seqLength];
      const mask = tf.tensor2d(batch.attentionMask, shape, 'int32');
      const [ids, types, hiddenName] = [this.config.inputs[0], this.config.inputs[2], this.config.output];
      const feeds: tf.NamedTensorMap = {
        [ids]: tf.tensor2d(batch.inputIds, shape, 'int32'),
        [this.config.inputs[1]]: mask,
        [types]: tf.tensor2d(batch.tokenTypeIds, shape, 'int32'),
      };
      const hidden = this.model.execute(feeds, hiddenName) as tf.Tensor3D;
      const pooled = meanPool(hidden, mask);
      return this.config.normalize ? l2Normalize(pooled) : pooled;
    });
  }

  /** embedTokenized as one Float32Array per sentence, pooled on typed arrays (what `embed` uses). */
  embedTokenizedRows(batch: TokenizedBatch): Float32Array[] {
    const shape: [number, number] = [batch.batchSize, batch.seqLength];
    const feeds: tf.NamedTensorMap = {
      [this.config.inputs[0]]: tf.tensor2d(batch.inputIds, shape, 'int32'),
      [this.config.inputs[1]]: tf.tensor2d(batch.attentionMask, shape, 'int32'),
      [this.config.inputs[2]]: tf.tensor2d(batch.tokenTypeIds, shape, 'int32'),
    };
    try {
      const hidden = this.model.execute(feeds, this.config.output) as tf.Tensor3D;
      const values = hidden.dataSync() as Float32Array;
      const [batchSize, seq, width] = hidden.shape;
      const rows = poolSentences(values, batch.attentionMask, batchSize, seq, width, this.config.normalize);
      hidden.dispose();
      return rows;
    } finally {
      tf.dispose(Object.values(feeds));
    }
  }

  /** Embeds sentences in consecutive batches of `batchSize`, keeping their order. */
  embed(sentences: readonly string[], options: EmbedOptions = {}): EmbedResult {
    const batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`batchSize must be a positive integer (got ${batchSize})`);
    const embeddings: Float32Array[] = [];
    const stats: EmbedStats = {sentences: sentences.length, batches: 0, realTokens: 0, paddingTokens: 0};
    for (let start = 0; start < sentences.length; start += batchSize) {
      const batch = this.tokenizer.encodeBatch(sentences.slice(start, start + batchSize));
      embeddings.push(...this.embedTokenizedRows(batch));
      stats.batches++;
      stats.realTokens += batch.realTokens;
      stats.paddingTokens += batch.paddingTokens;
      options.onProgress?.(embeddings.length, sentences.length);
    }
    return {embeddings, stats};
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** Cosine similarity of two vectors (not assumed normalised). */
export function cosineSimilarity(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`vectors differ in length (${a.length} vs ${b.length})`);
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}
