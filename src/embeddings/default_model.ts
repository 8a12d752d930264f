/**
 * The embedded default model: all-MiniLM-L6-v2 (Apache-2.0), converted by
 * tools/minilm/convert.py and shipped in src/demo/all-minilm-l6-v2 with
 * uint8-quantised weights.
 */
import * as path from 'path';
import {packageRoot} from '../package_root';
import {SentenceEmbedder} from './sentence_embedder';

export const DEFAULT_MODEL_NAME = 'sentence-transformers/all-MiniLM-L6-v2';

export function defaultModelDirectory(): string {
  return path.join(packageRoot(), 'src', 'demo', 'all-minilm-l6-v2');
}

export function loadDefaultEmbedder(): SentenceEmbedder {
  return SentenceEmbedder.fromDirectory(defaultModelDirectory());
}
