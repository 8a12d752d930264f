/**
 * BetterTransformer.generator on the encoder–decoder fixtures (test/fixtures/*_seq2seq: tiny random T5, BART,
 * mBART, Marian, Pegasus, Blenderbot and Whisper models made by the real converter, with Hugging Face's own
 * TensorFlow generate() results in generation.json): the decoder is recognised and runs as the fused step with
 * cross-attention over a static cross cache; greedy and beam-search tokens equal Python's token for token, one
 * source at a time and as a padded batch; every greedy step's logits equal Python's; the recompute baseline
 * gives the same tokens; bad arguments are refused by name and nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel} from '@tensorflow/tfjs-converter';
import {BetterTransformer, BetterTransformerArgumentError} from '../src';
import type {AnyGenerator} from '../src/generation/generator';
import {architectureTable} from '../src/transform/architectures';
import type {Seq2SeqGenerateOptions} from '../src/generation/seq2seq_options';
import {rowRelativeDifference} from './helpers/generation_fixture';
import {loadFixture} from './helpers/load_fixture';
import {loadSeq2SeqFixture, Seq2SeqGenerationFixture, seq2seqFixtureIds} from './helpers/seq2seq_fixture';

// fp32 end to end, the same arithmetic in a different order (as in generation.test.ts).
const LOGITS_TOLERANCE = 1e-4;
const ids = seq2seqFixtureIds();

test('there are encoder–decoder fixtures to generate with', () => {
  expect(ids.length).toBeGreaterThan(0);
});

function sourceOf(f: Seq2SeqGenerationFixture, i: number): number[] | tf.Tensor {
  const s = f.sources[i];
  return Array.isArray(s[0]) ? tf.tensor([s as number[][]]) : s as number[];
}

function batchOf(f: Seq2SeqGenerationFixture): {input: tf.Tensor; attentionMask?: tf.Tensor} {
  if (f.batchedInput.input_features_shape) return {input: tf.tensor(f.sources as number[][][])};
  return {input: tf.tensor2d(f.batchedInput.input_ids as number[][], undefined, 'int32'),
    attentionMask: tf.tensor2d(f.batchedInput.attention_mask as number[][], undefined, 'int32')};
}

function greedyOptions(f: Seq2SeqGenerationFixture): Seq2SeqGenerateOptions {
  return {maxNewTokens: f.maxNewTokens, minNewTokens: f.maxNewTokens, decoderStartTokenId: f.decoderStartTokenId,
    stopTokens: [f.eosTokenId], ...(f.forcedBosTokenId !== null ? {forcedBosTokenId: f.forcedBosTokenId} : {})};
}

function beamOptions(f: Seq2SeqGenerationFixture): Seq2SeqGenerateOptions {
  return {maxNewTokens: f.beam.maxNewTokens, numBeams: f.beam.numBeams, lengthPenalty: f.beam.lengthPenalty,
    earlyStopping: f.beam.earlyStopping, decoderStartTokenId: f.decoderStartTokenId, stopTokens: [f.eosTokenId],
    ...(f.forcedBosTokenId !== null ? {forcedBosTokenId: f.forcedBosTokenId} : {})};
}

describe.each(ids)('generator on %s', id => {
  const fixture = loadFixture(id);
  const expected = loadSeq2SeqFixture(id);
  let model: GraphModel;
  let generator: AnyGenerator;

  beforeAll(() => {
    model = fixture.loadGraphModel();
    generator = BetterTransformer.generator(model);
  });
  afterAll(() => {
    generator.dispose();
    model.dispose();
  });

  test('recognises the decoder and runs it as its family says (cached, or the graph per token with a reason)', () => {
    const report = generator.report;
    const entry = architectureTable().find(e => e.fixtures.includes(id));
    if (entry?.generation !== 'cached') {
      expect(report.mode).toBe('recompute');
      expect(report.reason).toMatch(/\S/);
      return;
    }
    expect([report.mode, report.reason]).toEqual(['cached', null]);
    // The fused decoder against the graph on the probe (both float32): as close as the step logits are held to Python's.
    expect(report.verification?.maxRelativeDifference).toBeLessThan(LOGITS_TOLERANCE);
  });

  test('greedy tokens and every step\'s logits equal Python\'s, one source at a time', async () => {
    for (let i = 0; i < expected.sources.length; i++) {
      const source = sourceOf(expected, i);
      const result = await generator.generate(source, {...greedyOptions(expected), returnLogits: i === 0});
      expect(result.sequences[0]).toEqual(expected.greedySingle[i]);
      if (i === 0) {
        const logits = result.logits?.[0] ?? [];
        expect(logits.length).toBe(expected.stepLogits.length);
        logits.forEach((row, s) => expect(rowRelativeDifference(row, expected.stepLogits[s])).toBeLessThan(LOGITS_TOLERANCE));
      }
      if (source instanceof tf.Tensor) source.dispose();
    }
  });

  test('greedy tokens equal Python\'s for the padded batch', async () => {
    const batch = batchOf(expected);
    const result = await generator.generate(batch.input, {...greedyOptions(expected), ...(batch.attentionMask ? {attentionMask: batch.attentionMask} : {})});
    expect(result.sequences).toEqual(expected.greedyBatch);
    tf.dispose([batch.input, ...(batch.attentionMask ? [batch.attentionMask] : [])]);
  });

  test('beam search equals Python\'s, one source at a time, as a batch and forced to full length', async () => {
    for (let i = 0; i < expected.sources.length; i++) {
      const source = sourceOf(expected, i);
      const result = await generator.generate(source, beamOptions(expected));
      expect(result.sequences[0]).toEqual(expected.beamSingle[i]);
      if (source instanceof tf.Tensor) source.dispose();
    }
    const batch = batchOf(expected);
    const result = await generator.generate(batch.input, {...beamOptions(expected), ...(batch.attentionMask ? {attentionMask: batch.attentionMask} : {})});
    expect(result.sequences).toEqual(expected.beamBatch);
    tf.dispose([batch.input, ...(batch.attentionMask ? [batch.attentionMask] : [])]);
    const source = sourceOf(expected, expected.beamForced.source);
    const forced = await generator.generate(source, {...beamOptions(expected), minNewTokens: expected.beam.maxNewTokens});
    expect(forced.sequences[0]).toEqual(expected.beamForced.sequence);
    if (source instanceof tf.Tensor) source.dispose();
  });

  test('the recompute baseline gives the same greedy and beam tokens', async () => {
    const recompute = BetterTransformer.generator(model, {cache: false});
    try {
      expect(recompute.report.mode).toBe('recompute');
      const source = sourceOf(expected, 0);
      const greedy = await recompute.generate(source, {...greedyOptions(expected), maxNewTokens: 8, minNewTokens: 8});
      expect(greedy.sequences[0]).toEqual(expected.greedySingle[0].slice(0, 9));
      const beams = await recompute.generate(source, beamOptions(expected));
      expect(beams.sequences[0]).toEqual(expected.beamSingle[0]);
      if (source instanceof tf.Tensor) source.dispose();
    } finally {
      recompute.dispose();
    }
  });

  test('refuses bad arguments by name, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const source = sourceOf(expected, 0);
    const o = greedyOptions(expected);
    const cases: Array<[unknown, Seq2SeqGenerateOptions | Record<string, unknown>, RegExp]> = [
      [source, {...o, numBeams: 0}, /options\.numBeams must be an integer >= 1/],
      [source, {...o, decoderStartTokenId: undefined}, /options\.decoderStartTokenId is required/],
      [source, {...o, decoderStartTokenId: 1e6}, /options\.decoderStartTokenId must be a token id/],
      [source, {...o, numBeams: 2, temperature: 0.7}, /beam sampling is not supported/],
      [source, {...o, minNewTokens: o.maxNewTokens as number + 1}, /options\.minNewTokens = \d+ exceeds options\.maxNewTokens/],
      [source, {...o, maxNewTokens: 1e6, minNewTokens: 0}, /options\.maxNewTokens = 1000000 needs/],
      [source, {...o, lengthPenalty: NaN}, /options\.lengthPenalty must be a finite number/],
      [source, {...o, earlyStopping: 'sometimes'}, /options\.earlyStopping must be true, false or 'never'/],
    ];
    if (!(source instanceof tf.Tensor)) {
      cases.push([[], o, /inputIds holds no sequence/], [[[]], o, /inputIds\[0\] is empty/],
        [[1e6], o, /inputIds\[0\]\[0\] = 1000000 is not a token id/]);
      const limit = (generator.report as {sourcePositions?: number}).sourcePositions ?? Infinity;
      if (Number.isFinite(limit)) {
        cases.push([[[1, 2], new Array(limit + 1).fill(1)], o, new RegExp(`inputIds\\[1\\] has ${limit + 1} positions; the model's encoder takes at most ${limit}`)]);
      }
    }
    for (const [input, options, message] of cases) {
      await expect(generator.generate(input as number[], options as Seq2SeqGenerateOptions)).rejects.toThrow(BetterTransformerArgumentError);
      await expect(generator.generate(input as number[], options as Seq2SeqGenerateOptions)).rejects.toThrow(message);
    }
    await expect(generator.stream(source, {...o, numBeams: 2}).next()).rejects.toThrow(/beam search has no stream/);
    if (source instanceof tf.Tensor) source.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('leaves no tensor behind across generations', async () => {
    const source = sourceOf(expected, 1);
    await generator.generate(source, {...beamOptions(expected), maxNewTokens: 4});
    const before = tf.memory().numTensors;
    for (let r = 0; r < 3; r++) {
      await generator.generate(source, {...greedyOptions(expected), maxNewTokens: 4, minNewTokens: 0});
      await generator.generate(source, {...beamOptions(expected), maxNewTokens: 4});
    }
    expect(tf.memory().numTensors).toBe(before);
    if (source instanceof tf.Tensor) source.dispose();
  });
});
