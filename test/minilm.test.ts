/**
 * all-MiniLM-L6-v2 end to end against sentence-transformers (PyTorch): the
 * reference embeddings and token ids were computed by tools/minilm/convert.py
 * and ship in packages/all-minilm-l6-v2/model/reference.json.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  SentenceEmbedder, cosineSimilarity, defaultModelDirectory, l2Normalize, loadDefaultEmbedder, meanPool, poolSentences,
  toBetterTransformer,
} from '../src/embeddings';

/**
 * The embedded model's weights are uint8 (feed-forward output projections
 * float16); tools/minilm/convert.py measured a minimum cosine of 0.9958 to
 * sentence-transformers over these sentences. Unquantised, the bound is 0.9999.
 */
const EMBEDDED_COSINE_BOUND = 0.995;
const FP32_COSINE_BOUND = 0.9999;
/** Original and transformed graph share weights: they must agree to float32 rounding. */
const TRANSFORMED_MAX_ABS_DIFF = 1e-4;
/** The unfused graph on tfjs-backend-cpu is slow: a few short batches keep the suite quick. */
const BATCH_SIZE = 4;
const FP32_DIR = path.join(__dirname, '..', '.deps', 'minilm-tfjs-fp32');

// The unfused graph on tfjs-backend-cpu takes tens of seconds for the reference sentences.
jest.setTimeout(180000);

interface Reference {
  sentences: string[];
  embeddings: number[][];
  maxSeqLength: number;
  tokenizerCases: {text: string; ids: number[]}[];
}

const reference = JSON.parse(fs.readFileSync(path.join(defaultModelDirectory(), 'reference.json'), 'utf8')) as Reference;

function minCosine(embeddings: Float32Array[], expected: number[][]): number {
  expect(embeddings).toHaveLength(expected.length);
  return Math.min(...embeddings.map((e, i) => cosineSimilarity(e, expected[i])));
}

function maxAbsDiff(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  a.forEach((row, i) => row.forEach((x, j) => { worst = Math.max(worst, Math.abs(x - b[i][j])); }));
  return worst;
}

function transformedLayers(model: ReturnType<typeof toBetterTransformer>): number {
  return (model.report?.fused ?? []).filter(b => b.kind !== 'attention').reduce((n, b) => n + b.layers, 0);
}

describe('pooling', () => {
  test('poolSentences (typed arrays, what embed uses) equals meanPool + l2Normalize', () => {
    tf.tidy(() => {
      const [batch, seq, width] = [3, 5, 7];
      const hidden = tf.randomNormal([batch, seq, width], 0, 1, 'float32', 3) as tf.Tensor3D;
      // Right padding, a full row, and a row with no real token (its mean is 0, as meanPool's).
      const mask = tf.tensor2d([1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], [batch, seq], 'int32');
      for (const normalize of [false, true]) {
        const pooled = meanPool(hidden, mask);
        const expected = (normalize ? l2Normalize(pooled) : pooled).arraySync();
        const rows = poolSentences(hidden.dataSync() as Float32Array, mask.dataSync(), batch, seq, width, normalize);
        rows.forEach((row, b) => row.forEach((x, j) => expect(x).toBeCloseTo(expected[b][j], 6)));
      }
      expect(() => poolSentences(new Float32Array(3), [1], 1, 1, 2, true)).toThrow(/expected 1x1x2 hidden values/);
    });
  });
});

describe('all-MiniLM-L6-v2 tokenizer', () => {
  const embedder = loadDefaultEmbedder();
  afterAll(() => embedder.dispose());

  test('ids match the Python tokenizer (truncation at max_seq_length included)', () => {
    expect(embedder.tokenizer.maxSeqLength).toBe(reference.maxSeqLength);
    for (const {text, ids} of reference.tokenizerCases) expect(embedder.tokenizer.encode(text)).toEqual(ids);
    expect(Math.max(...reference.tokenizerCases.map(c => c.ids.length))).toBe(reference.maxSeqLength);
  });

  test('a batch is padded on the right to its longest sentence', () => {
    const batch = embedder.tokenizer.encodeBatch(['short', 'a somewhat longer sentence']);
    const [a, b] = batch.lengths;
    expect(batch.seqLength).toBe(Math.max(a, b));
    expect(a).toBeLessThan(b);
    expect(batch.realTokens).toBe(a + b);
    expect(batch.paddingTokens).toBe(2 * b - a - b);
    expect(Array.from(batch.attentionMask.subarray(0, b))).toEqual([...Array(a).fill(1), ...Array(b - a).fill(0)]);
    expect(Array.from(batch.inputIds.subarray(a, b))).toEqual(Array(b - a).fill(0));
  });
});

describe('all-MiniLM-L6-v2 embedded model vs sentence-transformers', () => {
  let embedder: SentenceEmbedder;
  let original: Float32Array[];

  beforeAll(() => {
    embedder = loadDefaultEmbedder();
    original = embedder.embed(reference.sentences, {batchSize: BATCH_SIZE}).embeddings;
  });
  afterAll(() => embedder.dispose());

  test(`original graph: cosine >= ${EMBEDDED_COSINE_BOUND}, unit length`, () => {
    expect(minCosine(original, reference.embeddings)).toBeGreaterThanOrEqual(EMBEDDED_COSINE_BOUND);
    for (const e of original) expect(Math.hypot(...e)).toBeCloseTo(1, 5);
  });

  test('transformed graph: every encoder layer fused, same embeddings as the original', () => {
    const transformed = toBetterTransformer(embedder.model);
    try {
      expect(transformedLayers(transformed)).toBe(6);
      const fused = embedder.withModel(transformed.model).embed(reference.sentences, {batchSize: BATCH_SIZE}).embeddings;
      expect(minCosine(fused, reference.embeddings)).toBeGreaterThanOrEqual(EMBEDDED_COSINE_BOUND);
      expect(maxAbsDiff(fused, original)).toBeLessThanOrEqual(TRANSFORMED_MAX_ABS_DIFF);
    } finally {
      transformed.model.dispose();
    }
  });

  test('repeated embed calls leave no tensors behind (original and transformed)', () => {
    const transformed = toBetterTransformer(embedder.model);
    const fused = embedder.withModel(transformed.model);
    const sentences = reference.sentences.slice(0, 3);
    fused.embed(sentences);
    embedder.embed(sentences);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      fused.embed(sentences, {batchSize: 2});
      embedder.embed(sentences, {batchSize: 2});
    }
    expect(tf.memory().numTensors).toBe(before);
    transformed.model.dispose();
  });
});

// The unquantised graph is made by tools/minilm/convert.py into .deps (not committed): checked where present.
const describeFp32 = fs.existsSync(path.join(FP32_DIR, 'model.json')) ? describe : describe.skip;
describeFp32('all-MiniLM-L6-v2 float32 graph (.deps/minilm-tfjs-fp32) vs sentence-transformers', () => {
  test(`original and transformed: cosine >= ${FP32_COSINE_BOUND}`, () => {
    const embedder = SentenceEmbedder.fromDirectory(FP32_DIR);
    const transformed = toBetterTransformer(embedder.model);
    try {
      // The original on a few sentences (it is the slow one); the transformed on all of them.
      const few = 6;
      const original = embedder.embed(reference.sentences.slice(0, few), {batchSize: 3}).embeddings;
      expect(minCosine(original, reference.embeddings.slice(0, few))).toBeGreaterThanOrEqual(FP32_COSINE_BOUND);
      const fused = embedder.withModel(transformed.model).embed(reference.sentences, {batchSize: 8}).embeddings;
      expect(minCosine(fused, reference.embeddings)).toBeGreaterThanOrEqual(FP32_COSINE_BOUND);
      expect(maxAbsDiff(fused.slice(0, few), original)).toBeLessThanOrEqual(TRANSFORMED_MAX_ABS_DIFF);
    } finally {
      transformed.model.dispose();
      embedder.dispose();
    }
  });
});
