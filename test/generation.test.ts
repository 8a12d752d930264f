/**
 * BetterTransformer.generator on the decoder fixtures (test/fixtures/*_lm: tiny
 * random models made by the real converter, with Python's own greedy
 * generation stored in generation.json): the decoder is recognised and runs
 * on the fused decoder stack with a key/value cache; greedy tokens equal
 * Hugging Face's generate() token for token, one prompt at a time and as a
 * left-padded batch; every step's logits equal Python's; the recompute
 * baseline gives the same tokens; sampling is reproducible; arguments are
 * refused by name and nothing leaks.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer, BetterTransformerArgumentError, setKernelPreference} from '../src';
import type {AnyGenerator, Generator} from '../src/generation/generator';
import {architectureTable} from '../src/transform/architectures';
import {loadGenerationFixture, rowRelativeDifference} from './helpers/generation_fixture';
import {listFixtures, loadFixture} from './helpers/load_fixture';

// fp32 end to end, the same arithmetic in a different order: 1e-5 is the op-level bound
// (test/decoder_ops.test.ts); across 2 layers, a head and up to 72 positions 1e-4 holds with margin.
const LOGITS_TOLERANCE = 1e-4;
const decoderFixtures = listFixtures().filter(f => f.kind === 'decoder' && f.format === 'graph-model');

test('there are decoder fixtures to generate with', () => {
  expect(decoderFixtures.map(f => f.id).sort()).toEqual(['gpt2_lm', 'gpt2_lm_past', 'gptj_lm', 'mistral_lm', 'opt_lm']);
});

describe.each(decoderFixtures.map(f => [f.id, f] as const))('generator on %s', (id, meta) => {
  const fixture = loadFixture(id);
  const expected = loadGenerationFixture(id);
  const entry = architectureTable().find(e => e.fixtures.includes(id));
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

  test('recognises the decoder and runs it cached, as its family says', () => {
    expect(entry?.generation).toBe('cached');
    const report = generator.report;
    expect([report.mode, report.reason]).toEqual(['cached', null]);
    const f = meta as unknown as {layers: number; heads: number; kvHeads: number; headDim: number; hidden: number;
      normKind: string; parallel: boolean; tiedHead: boolean; positionEmbedding: string; rotaryDim: number | null};
    expect(report.architecture).toMatchObject({
      layers: f.layers, heads: f.heads, kvHeads: f.kvHeads, headDim: f.headDim, embed: f.hidden,
      normKind: f.normKind === 'rmsnorm' ? 'rms' : 'layer', parallel: f.parallel, tiedHead: f.tiedHead,
      positionEmbedding: f.positionEmbedding === 'rotary' ? 'rotary' : 'learned',
    });
    if (f.rotaryDim) expect(report.architecture?.rotaryDim).toBe(f.rotaryDim);
    expect(report.verification?.maxRelativeDifference).toBeLessThan(1e-5);
  });

  test('greedy tokens and every step\'s logits equal Python\'s, one prompt at a time', async () => {
    for (const [p, prompt] of expected.prompts.entries()) {
      const result = await generator.generate(prompt, {maxNewTokens: expected.maxNewTokens, returnLogits: true});
      expect([p, result.tokens[0]]).toEqual([p, expected.greedySingle[p]]);
      expect(result.sequences[0]).toEqual([...prompt, ...expected.greedySingle[p]]);
      expect(result.finishReasons).toEqual(['length']);
      const logits = result.logits?.[0] ?? [];
      expect(logits).toHaveLength(expected.stepLogitsSingle[p].length);
      let worst = 0;
      logits.forEach((row, step) => {
        worst = Math.max(worst, rowRelativeDifference(row, expected.stepLogitsSingle[p][step]));
      });
      expect([p, worst]).toEqual([p, expect.any(Number)]);
      expect(worst).toBeLessThan(LOGITS_TOLERANCE);
    }
  });

  test('a batch of prompts of different lengths gives Python\'s left-padded batch tokens', async () => {
    const result = await generator.generate(expected.prompts, {maxNewTokens: expected.maxNewTokens});
    expect(result.tokens).toEqual(expected.greedyBatched);
    // The same batch as Python's padded tensor with its attention mask.
    const ids = tf.tensor2d(expected.batchedInput.input_ids, undefined, 'int32');
    const mask = tf.tensor2d(expected.batchedInput.attention_mask, undefined, 'int32');
    const padded = await generator.generate(ids, {maxNewTokens: expected.maxNewTokens, attentionMask: mask});
    expect(padded.tokens).toEqual(expected.greedyBatched);
    tf.dispose([ids, mask]);
  });

  test('the recompute baseline (no cache: the graph on the whole sequence per token) gives the same tokens', async () => {
    const recompute = BetterTransformer.generator(model, {cache: false});
    expect(recompute.report.mode).toBe('recompute');
    const steps = 12;
    const result = await recompute.generate(expected.prompts, {maxNewTokens: steps});
    expect(result.tokens).toEqual(expected.greedyBatched.map(t => t.slice(0, steps)));
    recompute.dispose();
  });

  test('sampling: a seed gives the same tokens each time; top-k 1 is greedy', async () => {
    const options = {maxNewTokens: 16, temperature: 0.8, topK: 20, topP: 0.95};
    const a = await generator.generate(expected.prompts, {...options, seed: 11});
    const b = await generator.generate(expected.prompts, {...options, seed: 11});
    expect(a.tokens).toEqual(b.tokens);
    const c = await generator.generate(expected.prompts, {...options, seed: 12});
    expect(c.tokens).not.toEqual(a.tokens);
    const topOne = await generator.generate(expected.prompts, {maxNewTokens: 16, temperature: 1.5, topK: 1, seed: 3});
    expect(topOne.tokens).toEqual(expected.greedyBatched.map(t => t.slice(0, 16)));
  });

  test('sampling gives the same tokens on every implementation of the step (fused kernel and composite)', async () => {
    // The projects run this file on native cpu, portable cpu and tensorflow; here the same backend's
    // fused kernel and plain-tfjs composite must agree too (logits differ only by float rounding).
    const options = {maxNewTokens: 24, temperature: 0.9, topK: 40, topP: 0.9, repetitionPenalty: 1.1, seed: 5};
    const fused = await generator.generate(expected.prompts, options);
    setKernelPreference('composite');
    try {
      const composite = await generator.generate(expected.prompts, options);
      expect(composite.tokens).toEqual(fused.tokens);
    } finally {
      setKernelPreference('auto');
    }
  });

  test('bfloat16 weights: the report measures the difference, and the prompts\' logits stay within 1e-2 of Python\'s', async () => {
    // bfloat16 keeps 8 bits of mantissa: the weights are rounded by up to 2^-9 relative (decoding steps keep
    // float32 activations; products accumulate in float32); through 2 layers and the head that measures
    // 4.1e-3 (OPT) to 7.5e-3 (Mistral) of the largest logit on these random models.
    const bf16 = BetterTransformer.generator(model, {weightPrecision: 'bfloat16'});
    expect(bf16.report.weightPrecision).toBe('bfloat16');
    expect(bf16.report.verification?.bfloat16RelativeDifference).toBeLessThan(1e-2);
    for (const [p, prompt] of expected.prompts.entries()) {
      const result = await bf16.generate(prompt, {maxNewTokens: 1, returnLogits: true});
      expect(rowRelativeDifference(result.logits?.[0][0] ?? [], expected.stepLogitsSingle[p][0])).toBeLessThan(1e-2);
    }
    bf16.dispose();
  });

  test('generating leaves no tensors behind', async () => {
    await generator.generate(expected.prompts, {maxNewTokens: 4});
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await generator.generate(expected.prompts, {maxNewTokens: 6});
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('generator arguments and lifetime (gpt2_lm)', () => {
  const fixture = loadFixture('gpt2_lm');
  let model: GraphModel;
  let generator: AnyGenerator;
  beforeAll(() => {
    model = fixture.loadGraphModel();
    generator = BetterTransformer.generator(model);
  });
  afterAll(() => model.dispose());

  const refused = async (promise: Promise<unknown>, pattern: RegExp) => {
    await expect(promise).rejects.toThrow(BetterTransformerArgumentError);
    await expect(promise).rejects.toThrow(pattern);
  };

  test('prompts and options are refused by name before any step runs', async () => {
    const vocab = generator.report.architecture?.vocab ?? 0;
    await refused(generator.generate([1, vocab]), new RegExp(`inputIds\\[0\\]\\[1\\] = ${vocab} is not a token id`));
    await refused(generator.generate([1, -1]), /inputIds/);
    await refused(generator.generate([1, 2.5]), /inputIds/);
    await refused(generator.generate([]), /inputIds|prompt/i);
    await refused(generator.generate([[1, 2], []]), /inputIds|prompt/i);
    await refused(generator.generate([1, 2], {maxNewTokens: -1}), /maxNewTokens/);
    await refused(generator.generate([1, 2], {maxNewTokens: 1e6}), /maxNewTokens.*positions/);
    await refused(generator.generate([1, 2], {temperature: -1}), /temperature/);
    await refused(generator.generate([1, 2], {topP: 1.5}), /topP/);
    await refused(generator.generate([1, 2], {topK: -2}), /topK/);
    await refused(generator.generate([1, 2], {maxNewToken: 3} as never), /maxNewToken/);
    expect(() => BetterTransformer.generator(model, {weightPrecision: 'float16' as never})).toThrow(/weightPrecision/);
    expect(() => BetterTransformer.generator({} as never)).toThrow(/GraphModel/);
  });

  test('zero new tokens returns the prompts; a stop token ends its sequence', async () => {
    const none = await generator.generate([[3, 4], [5]], {maxNewTokens: 0});
    expect(none.tokens).toEqual([[], []]);
    const greedy = await generator.generate([3, 4, 5], {maxNewTokens: 8});
    const stop = greedy.tokens[0][2];
    const stopped = await generator.generate([3, 4, 5], {maxNewTokens: 8, stopTokens: [stop]});
    expect(stopped.tokens[0]).toEqual(greedy.tokens[0].slice(0, greedy.tokens[0].indexOf(stop) + 1));
    expect(stopped.finishReasons).toEqual(['stop']);
  });

  test('one generation at a time per generator; an abort ends it with the tokens so far', async () => {
    const first = generator.generate([1, 2, 3], {maxNewTokens: 20});
    await refused(generator.generate([1, 2, 3], {maxNewTokens: 2}), /already running/);
    expect((await first).tokens[0]).toHaveLength(20);
    const controller = new AbortController();
    const steps: number[] = [];
    const stream = generator.stream([1, 2, 3], {maxNewTokens: 20, signal: controller.signal});
    let result;
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        result = next.value;
        break;
      }
      steps.push(next.value.step);
      if (next.value.step === 4) controller.abort();
    }
    expect(steps).toEqual([0, 1, 2, 3, 4]);
    expect(result.finishReasons).toEqual(['aborted']);
    expect(result.tokens[0]).toHaveLength(5);
  });

  test('a disposed generator refuses to generate; disposing frees what it made', async () => {
    const before = tf.memory().numTensors;
    const other = BetterTransformer.generator(model);
    other.dispose();
    expect(tf.memory().numTensors).toBe(before);
    await refused(other.generate([1, 2]), /disposed/);
    generator.dispose();
  });
});

describe('models the generator cannot run cached', () => {
  test('an encoder is refused with the reason', () => {
    const model = loadFixture('bert').loadGraphModel();
    expect(() => BetterTransformer.generator(model)).toThrow(BetterTransformerArgumentError);
    model.dispose();
  });

  test('a decoder whose fused step disagrees with its graph recomputes with the graph, and says why', async () => {
    // A changed causal band (each token sees only the tokens before it) is structure the recogniser
    // does not read: the verification on probe prompts sees the difference, and the generator runs the
    // graph itself rather than the fused step (never a wrong token).
    const fixture = loadFixture('gpt2_lm');
    const topology = JSON.parse(JSON.stringify(fixture.artifacts.modelTopology)) as {node: Array<{op: string}>};
    const bands = topology.node.filter(n => n.op === 'GreaterEqual');
    expect(bands).toHaveLength(2);
    bands.forEach(n => (n.op = 'Greater'));
    const model = loadGraphModelSync({...fixture.artifacts, modelTopology: topology}) as unknown as GraphModel;
    const generator = BetterTransformer.generator(model);
    expect(generator.report.mode).toBe('recompute');
    expect(generator.report.reason).toMatch(/differ from the graph's/);
    // Its tokens are the damaged graph's own greedy tokens (computed here by running the graph per token).
    const prompt = [17, 42, 5];
    const steps = 4;
    const sequence = [...prompt];
    for (let i = 0; i < steps; i++) {
      const ids = tf.tensor2d([sequence], undefined, 'int32');
      const mask = tf.onesLike(ids);
      const out = model.execute({input_ids: ids, attention_mask: mask});
      const logits = (Array.isArray(out) ? out[0] : out) as tf.Tensor;
      const next = tf.tidy(() => tf.argMax(tf.reshape(tf.slice(logits, [0, sequence.length - 1, 0], [1, 1, -1]), [-1])));
      sequence.push((next.dataSync() as Int32Array)[0]);
      tf.dispose([ids, mask, logits, next]);
    }
    const result = await generator.generate(prompt, {maxNewTokens: steps});
    expect(result.sequences[0]).toEqual(sequence);
    generator.dispose();
    model.dispose();
  });
});
