/**
 * Sentence embeddings (`tfjs-better-transformer/embeddings`): the embedded
 * all-MiniLM-L6-v2, a SentenceEmbedder for any converted BERT-style model
 * with an embedder.json, and the BetterTransformer step for it.
 */
export {SentenceEmbedder, cosineSimilarity} from './sentence_embedder';
export type {EmbedOptions, EmbedResult, EmbedStats} from './sentence_embedder';
export {SentenceTokenizer} from './tokenizer';
export type {TokenizedBatch} from './tokenizer';
export {meanPool, l2Normalize, poolSentences} from './pooling';
export {readEmbedderConfig} from './embedder_config';
export type {EmbedderConfig} from './embedder_config';
export {DEFAULT_MODEL_NAME, DEFAULT_MODEL_PACKAGE, defaultModelDirectory, loadDefaultEmbedder} from './default_model';
export {toBetterTransformer} from './transform_model';
export type {TransformedModel} from './transform_model';
