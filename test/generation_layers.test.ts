/**
 * BetterTransformer.generator on tfjs-layers models (Keras decoders of stock
 * layers with MultiHeadAttention called with use_causal_mask): the decoder is
 * recognised from the layer graph and runs on the fused decoder stack with a
 * key/value cache, after agreeing with the model's own predict(). On the
 * keras_decoder fixture (Python's greedy loop stored in generation.json):
 * greedy tokens equal Python's one prompt at a time and as a batch, every
 * step's logits equal Python's, the recompute baseline (predict per token)
 * gives the same tokens, sampling is reproducible and nothing leaks. Keras'
 * mask_zero (token id 0 is padding wherever it appears) is followed exactly.
 * Small models built here cover the other forms the recogniser accepts
 * (post-norm, gated MLP, no positions, ...); a causal model it does not
 * understand recomputes with the reason; an encoder is refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import {BetterTransformer, BetterTransformerArgumentError, MultiHeadAttention} from '../src';
import type {AnyGenerator, Generator, GeneratorOptions} from '../src/generation/generator';
import {buildLayersDecoder} from '../src/generation/layers_decoder';
import {loadGenerationFixture, rowRelativeDifference} from './helpers/generation_fixture';
import {loadFixture} from './helpers/load_fixture';

type Sym = tfl.SymbolicTensor;

function layersGenerator(model: tfl.LayersModel, options?: GeneratorOptions): AnyGenerator {
  return BetterTransformer.generator(model, options);
}

/** Greedy decoding with the model's own predict() on the whole sequence per token (position ids 0..n-1). */
function greedyByPredict(model: tfl.LayersModel, prompt: number[], steps: number): {tokens: number[]; logits: Float32Array[]} {
  const sequence = [...prompt];
  const tokens: number[] = [], logits: Float32Array[] = [];
  for (let i = 0; i < steps; i++) {
    const row = tf.tidy(() => {
      const n = sequence.length;
      const feeds = model.inputLayers.map(l => (/position/.test(l.name) ?
        tf.tensor2d([Array.from({length: n}, (_, p) => p)], [1, n], 'int32') : tf.tensor2d([sequence], [1, n], 'int32')));
      const out = model.predict(feeds.length === 1 ? feeds[0] : feeds) as tf.Tensor;
      return tf.reshape(tf.slice(out, [0, n - 1, 0], [1, 1, -1]), [-1]);
    });
    const values = row.dataSync() as Float32Array;
    row.dispose();
    let best = 0;
    for (let v = 1; v < values.length; v++) if (values[v] > values[best]) best = v;
    logits.push(values.slice());
    tokens.push(best);
    sequence.push(best);
  }
  return {tokens, logits};
}

// fp32 end to end, the same arithmetic in a different order (as in test/generation.test.ts).
const LOGITS_TOLERANCE = 1e-4;

describe('generator on keras_decoder (a Keras decoder with causal MultiHeadAttention)', () => {
  const fixture = loadFixture('keras_decoder');
  const expected = loadGenerationFixture('keras_decoder');
  let model: tfl.LayersModel;
  let generator: AnyGenerator;

  beforeAll(async () => {
    model = await fixture.loadLayersModel();
    generator = layersGenerator(model);
  });
  afterAll(() => {
    generator.dispose();
    model.dispose();
  });

  test('the Keras config records use_causal_mask in the call arguments, and the loaded layer keeps it', () => {
    const layers = (fixture.artifacts.modelTopology as {model_config: {config: {layers: Array<{class_name: string;
      inbound_nodes: unknown[][][]}>}}}).model_config.config.layers;
    const calls = layers.filter(l => l.class_name === 'MultiHeadAttention').map(l => l.inbound_nodes[0][0][3]);
    expect(calls).toEqual([{value: ['ln_attn_0', 0, 0], use_causal_mask: true}, {value: ['ln_attn_1', 0, 0], use_causal_mask: true}]);
    const mha = model.layers.filter(l => l.getClassName() === 'MultiHeadAttention');
    expect(mha.map(l => l.inboundNodes[0].callArgs)).toEqual([
      {useCausalMask: true, inputRoles: [['query', 'value']]}, {useCausalMask: true, inputRoles: [['query', 'value']]},
    ]);
  });

  test('recognises the decoder from its layers and runs it cached', () => {
    const report = generator.report;
    expect([report.mode, report.reason]).toEqual(['cached', null]);
    expect(report.architecture).toEqual({
      layers: 2, vocab: 100, embed: 32, heads: 4, kvHeads: 4, headDim: 8, normKind: 'layer', normFirst: true,
      parallel: false, activation: 'gelu', gatedMlp: false, positionEmbedding: 'learned', rotaryDim: 0,
      rotaryInterleaved: false, tiedHead: false,
    });
    expect(report.positions).toBe(128);
    expect(report.verification?.maxRelativeDifference).toBeLessThan(1e-5);
  });

  test('the fused step reads the model\'s own weights: Keras kernels in place, MHA kernels as reshaped views', () => {
    const built = buildLayersDecoder(model, 4096);
    if (!built.ok) throw new Error(built.reason);
    const d = built.decoder;
    const dataId = (t: tf.Tensor | undefined) => (t as unknown as {dataId: object} | undefined)?.dataId;
    const variable = (name: string) => model.weights.find(w => w.originalName === name)?.read();
    expect(d.weights.wordEmbeddings).toBe(variable('token_embedding/embeddings'));
    expect(d.weights.positionEmbeddings).toBe(variable('position_embedding/embeddings'));
    expect(d.weights.lmHead).toBe(variable('lm_head/kernel'));
    expect(d.weights.layers[1].upWeight).toBe(variable('ffn_in_1/kernel'));
    expect(d.weights.layers[1].norm2Gamma).toBe(variable('ln_ffn_1/gamma'));
    const views: Array<[tf.Tensor | undefined, string, number[]]> = [
      [d.weights.layers[0].qWeight, 'mha_0/query/kernel', [32, 32]],
      [d.weights.layers[0].outWeight, 'mha_0/attention_output/kernel', [32, 32]],
      [d.weights.layers[1].vBias, 'mha_1/value/bias', [32]],
    ];
    for (const [view, name, shape] of views) {
      const original = variable(name) as tf.Tensor;
      expect([name, view?.shape]).toEqual([name, shape]);
      expect(Array.from(view?.dataSync() ?? [])).toEqual(Array.from(original.dataSync()));
      // tfjs' cpu backends reshape without touching the data: the view holds the variable's own buffer.
      // (tfjs-node runs TensorFlow's Reshape, which shares the buffer behind a new handle.)
      if (tf.getBackend() === 'cpu') expect(dataId(view)).toBe(dataId(original));
    }
    expect(d.config).toMatchObject({normEps: 1e-5, finalNormEps: 1e-5, normFirst: true, activation: 'gelu'});
    expect([d.tokenInput, d.positionInput, d.maskTokenId]).toEqual([0, 1, 0]);
    // Only views: per block the 4 MHA kernels and the query/key/value biases ([H, D]; the output bias is [E] already).
    expect(d.owned).toHaveLength(14);
    tf.dispose(d.owned);
  });

  test('greedy tokens and every step\'s logits equal Python\'s, one prompt at a time', async () => {
    for (const [p, prompt] of expected.prompts.entries()) {
      const result = await generator.generate(prompt, {maxNewTokens: expected.maxNewTokens, returnLogits: true});
      expect([p, result.tokens[0]]).toEqual([p, expected.greedySingle[p]]);
      expect(result.finishReasons).toEqual(['length']);
      const logits = result.logits?.[0] ?? [];
      expect(logits).toHaveLength(expected.stepLogitsSingle[p].length);
      let worst = 0;
      logits.forEach((row, step) => {
        worst = Math.max(worst, rowRelativeDifference(row, expected.stepLogitsSingle[p][step]));
      });
      expect([p, worst < LOGITS_TOLERANCE]).toEqual([p, true]);
    }
  });

  test('a batch of prompts of different lengths gives Python\'s left-padded batch tokens', async () => {
    const result = await generator.generate(expected.prompts, {maxNewTokens: expected.maxNewTokens});
    expect(result.tokens).toEqual(expected.greedyBatched);
    const ids = tf.tensor2d(expected.batchedInput.input_ids, undefined, 'int32');
    const mask = tf.tensor2d(expected.batchedInput.attention_mask, undefined, 'int32');
    const padded = await generator.generate(ids, {maxNewTokens: expected.maxNewTokens, attentionMask: mask});
    expect(padded.tokens).toEqual(expected.greedyBatched);
    tf.dispose([ids, mask]);
  });

  test('the recompute baseline (predict on the whole sequence per token) gives the same tokens', async () => {
    const recompute = layersGenerator(model, {cache: false});
    expect([recompute.report.mode, recompute.report.reason, recompute.report.architecture]).toEqual(['recompute', null, null]);
    expect(recompute.report.positions).toBe(128);
    const steps = 12;
    const result = await recompute.generate(expected.prompts, {maxNewTokens: steps, returnLogits: true});
    expect(result.tokens).toEqual(expected.greedyBatched.map(t => t.slice(0, steps)));
    result.logits?.forEach((rows, p) => rows.forEach((row, step) => {
      expect([p, step, rowRelativeDifference(row, expected.stepLogitsSingle[p][step]) < LOGITS_TOLERANCE]).toEqual([p, step, true]);
    }));
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

  test('bfloat16 weights: the report measures the difference, and the first logits stay within 1e-2 of Python\'s', async () => {
    const bf16 = layersGenerator(model, {weightPrecision: 'bfloat16'});
    expect([bf16.report.mode, bf16.report.weightPrecision]).toEqual(['cached', 'bfloat16']);
    expect(bf16.report.verification?.bfloat16RelativeDifference).toBeLessThan(1e-2);
    for (const [p, prompt] of expected.prompts.entries()) {
      const result = await bf16.generate(prompt, {maxNewTokens: 1, returnLogits: true});
      expect(rowRelativeDifference(result.logits?.[0][0] ?? [], expected.stepLogitsSingle[p][0])).toBeLessThan(1e-2);
    }
    bf16.dispose();
  });

  test('token id 0 is padding to the Keras model wherever it appears (mask_zero): the generator follows the model', async () => {
    // A prompt holding 0: the key is masked in every attention, which the fused step cannot express, so the
    // generation runs on the model itself; its tokens and logits are the model's own.
    const prompt = [85, 64, 0, 29, 32];
    const reference = greedyByPredict(model, prompt, 6);
    const result = await generator.generate(prompt, {maxNewTokens: 6, returnLogits: true});
    expect(result.tokens[0]).toEqual(reference.tokens);
    result.logits?.[0].forEach((row, step) => expect(rowRelativeDifference(row, reference.logits[step])).toBeLessThan(LOGITS_TOLERANCE));
    // Without the 0 the masked key is gone and the tokens are the fused step's (the model agrees).
    const plain = await generator.generate([85, 64, 29, 32], {maxNewTokens: 6});
    expect(plain.tokens[0]).toEqual(greedyByPredict(model, [85, 64, 29, 32], 6).tokens);
  });

  test('a generated 0 hands the batch over to the model from that token on', async () => {
    // The same model with the head's bias for token 0 raised just enough for greedy decoding to pick 0 after
    // the first prompt's few first tokens (the smallest gap to the best logit over its steps 1..8).
    const steps = 12;
    const original = greedyByPredict(model, expected.prompts[0], 9).logits.slice(1);
    const gap = Math.min(...original.map(row => Math.max(...row) - row[0]));
    const raised = await fixture.loadLayersModel();
    const head = raised.getLayer('lm_head');
    const [kernel, bias] = head.getWeights();
    const values = bias.arraySync() as number[];
    values[0] += gap + 1e-3;
    const newBias = tf.tensor1d(values);
    head.setWeights([kernel, newBias]);
    newBias.dispose();
    const g = layersGenerator(raised);
    expect(g.report.mode).toBe('cached');
    for (const prompt of expected.prompts) {
      const reference = greedyByPredict(raised, prompt, steps);
      const result = await g.generate([prompt, [82, 68]], {maxNewTokens: steps, returnLogits: true});
      expect(result.tokens[0]).toEqual(reference.tokens);
      result.logits?.[0].forEach((row, step) => expect(rowRelativeDifference(row, reference.logits[step])).toBeLessThan(LOGITS_TOLERANCE));
      expect(result.tokens[1]).toEqual(greedyByPredict(raised, [82, 68], steps).tokens);
    }
    // The raised bias does make the first prompt's generation pick 0 before its last step.
    const generated = await g.generate(expected.prompts[0], {maxNewTokens: steps});
    expect(generated.tokens[0].slice(0, -1)).toContain(0);
    g.dispose();
    raised.dispose();
  });

  test('a model the rewriting pass has transformed (its attention on the fused op) generates the same', async () => {
    const transformed = BetterTransformer.transform(await fixture.loadLayersModel());
    const g = layersGenerator(transformed);
    expect([g.report.mode, g.report.reason]).toEqual(['cached', null]);
    const result = await g.generate(expected.prompts, {maxNewTokens: 16});
    expect(result.tokens).toEqual(expected.greedyBatched.map(t => t.slice(0, 16)));
    g.dispose();
    transformed.dispose();
  });

  test('generating leaves no tensors behind; disposing frees what the generator made', async () => {
    await generator.generate(expected.prompts, {maxNewTokens: 4});
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await generator.generate(expected.prompts, {maxNewTokens: 6});
    await generator.generate([[85, 0, 52]], {maxNewTokens: 3});
    expect(tf.memory().numTensors).toBe(before);
    const recompute = layersGenerator(model, {cache: false});
    await recompute.generate(expected.prompts, {maxNewTokens: 2});
    const other = layersGenerator(model);
    other.dispose();
    recompute.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  test('a recognised decoder whose fused step disagrees with the model recomputes with the model, and says why', async () => {
    // What structure cannot prove shows in the verification: here the norms report an epsilon they do not use.
    const other = await fixture.loadLayersModel();
    for (const norm of other.layers.filter(l => l.getClassName() === 'LayerNormalization')) {
      const config = norm.getConfig.bind(norm);
      norm.getConfig = () => ({...config(), epsilon: 0.5});
    }
    const g = layersGenerator(other);
    expect(g.report.mode).toBe('recompute');
    expect(g.report.reason).toMatch(/differ from the model's/);
    const result = await g.generate(expected.prompts[2], {maxNewTokens: 8});
    expect(result.tokens[0]).toEqual(expected.greedySingle[2].slice(0, 8));
    g.dispose();
    other.dispose();
  });
});

interface Variant {
  label: string;
  norm: 'pre' | 'post';
  positions: boolean;
  mlp: 'dense-act' | 'activation-layer' | 'gated';
  activation: string;
  mhaBias?: boolean;
  finalNorm?: 'full' | 'none' | 'scale-only';
  dropout?: boolean;
  embeddingScale?: number;
  /** Layers the recogniser does not know: a Dense between the embeddings and the first block. */
  extraProjection?: boolean;
  /** A third input. */
  extraInput?: boolean;
}

const VOCAB = 23, WIDTH = 16, HEADS = 2, FFN = 24, ROWS = 40;

/** A small random Keras-style decoder built with tfjs-layers and this package's MultiHeadAttention. */
function buildDecoder(v: Variant, seed: number): tfl.LayersModel {
  const ids = tfl.input({shape: [null], dtype: 'int32', name: 'input_ids'});
  const inputs: Sym[] = [ids];
  let x = tfl.layers.embedding({inputDim: VOCAB, outputDim: WIDTH}).apply(ids) as Sym;
  if (v.embeddingScale) x = tfl.layers.rescaling({scale: v.embeddingScale}).apply(x) as Sym;
  if (v.positions) {
    const positions = tfl.input({shape: [null], dtype: 'int32', name: 'position_ids'});
    inputs.push(positions);
    x = tfl.layers.add().apply([x, tfl.layers.embedding({inputDim: ROWS, outputDim: WIDTH}).apply(positions) as Sym]) as Sym;
  }
  if (v.extraInput) {
    const segments = tfl.input({shape: [null], dtype: 'int32', name: 'segment_ids'});
    inputs.push(segments);
    x = tfl.layers.add().apply([x, tfl.layers.embedding({inputDim: 2, outputDim: WIDTH}).apply(segments) as Sym]) as Sym;
  }
  if (v.extraProjection) x = tfl.layers.dense({units: WIDTH}).apply(x) as Sym;
  const drop = (t: Sym) => (v.dropout ? tfl.layers.dropout({rate: 0.1}).apply(t) as Sym : t);
  const attention = (t: Sym) => drop(new MultiHeadAttention({numHeads: HEADS, keyDim: WIDTH / HEADS, useBias: v.mhaBias ?? true})
      .apply(t, {value: t, useCausalMask: true}) as Sym);
  const mlp = (t: Sym): Sym => {
    let h: Sym;
    if (v.mlp === 'gated') {
      const gate = tfl.layers.dense({units: FFN, activation: v.activation as never}).apply(t) as Sym;
      const up = tfl.layers.dense({units: FFN}).apply(t) as Sym;
      h = tfl.layers.multiply().apply([gate, up]) as Sym;
    } else if (v.mlp === 'activation-layer') {
      h = tfl.layers.activation({activation: v.activation as never}).apply(tfl.layers.dense({units: FFN}).apply(t) as Sym) as Sym;
    } else {
      h = tfl.layers.dense({units: FFN, activation: v.activation as never}).apply(t) as Sym;
    }
    return drop(tfl.layers.dense({units: WIDTH}).apply(drop(h)) as Sym);
  };
  const norm = (t: Sym, options: {center?: boolean; scale?: boolean} = {}) =>
    tfl.layers.layerNormalization({epsilon: 1e-5, ...options}).apply(t) as Sym;
  for (let layer = 0; layer < 2; layer++) {
    if (v.norm === 'pre') {
      x = tfl.layers.add().apply([x, attention(norm(x))]) as Sym;
      x = tfl.layers.add().apply([x, mlp(norm(x))]) as Sym;
    } else {
      x = norm(tfl.layers.add().apply([x, attention(x)]) as Sym);
      x = norm(tfl.layers.add().apply([x, mlp(x)]) as Sym);
    }
  }
  if (v.finalNorm === 'full') x = norm(x);
  if (v.finalNorm === 'scale-only') x = norm(x, {center: false});
  const logits = tfl.layers.dense({units: VOCAB}).apply(x) as Sym;
  const model = tfl.model({inputs, outputs: logits});
  const values = model.weights.map((w, i) => tf.tidy(() => {
    const shape = w.shape as number[];
    const noise = tf.randomNormal(shape, 0, 1, 'float32', seed * 100 + i);
    if (/gamma$/.test(w.originalName)) return tf.add(1, tf.mul(noise, 0.2));
    if (shape.length === 1 || /beta$/.test(w.originalName)) return tf.mul(noise, 0.1);
    return tf.mul(noise, 0.7 / Math.sqrt(shape[0]));
  }));
  model.setWeights(values);
  tf.dispose(values);
  return model;
}

describe('the forms of Keras decoder the recogniser accepts', () => {
  const variants: Array<[Variant, Record<string, unknown>]> = [
    [{label: 'post-norm, no positions, relu as an Activation layer, dropout', norm: 'post', positions: false,
      mlp: 'activation-layer', activation: 'relu', dropout: true},
    {normFirst: false, positionEmbedding: 'none', activation: 'relu', gatedMlp: false}],
    [{label: 'pre-norm, gated swish MLP, MHA without biases, a final norm without beta, rescaled embeddings', norm: 'pre',
      positions: true, mlp: 'gated', activation: 'swish', mhaBias: false, finalNorm: 'scale-only', embeddingScale: 4},
    {normFirst: true, positionEmbedding: 'learned', activation: 'silu', gatedMlp: true}],
    [{label: 'pre-norm, tanh GELU (gelu_new), no final norm', norm: 'pre', positions: true, mlp: 'dense-act',
      activation: 'gelu_new', finalNorm: 'none'},
    {normFirst: true, positionEmbedding: 'learned', activation: 'gelu_tanh', gatedMlp: false}],
  ];

  test.each(variants.map(([v, a], i) => [v.label, v, a, i] as const))('%s: cached, the model\'s own tokens', async (_label, v, arch, i) => {
    const model = buildDecoder(v, 7 + i);
    const generator = layersGenerator(model);
    expect([generator.report.mode, generator.report.reason]).toEqual(['cached', null]);
    expect(generator.report.architecture).toMatchObject({...arch, layers: 2, vocab: VOCAB, embed: WIDTH, heads: HEADS});
    expect(generator.report.verification?.maxRelativeDifference).toBeLessThan(1e-5);
    expect(generator.report.positions).toBe(v.positions ? ROWS : 4096);
    const prompts = [[5, 9, 13, 2, 7], [11, 3]];
    const result = await generator.generate(prompts, {maxNewTokens: 10, returnLogits: true});
    prompts.forEach((prompt, b) => {
      const reference = greedyByPredict(model, prompt, 10);
      expect(result.tokens[b]).toEqual(reference.tokens);
      result.logits?.[b].forEach((row, step) => expect(rowRelativeDifference(row, reference.logits[step])).toBeLessThan(LOGITS_TOLERANCE));
    });
    generator.dispose();
    model.dispose();
  });
});

describe('layers models the generator cannot run cached', () => {
  test('a causal model with a layer the recogniser does not know recomputes with predict(), and says why', async () => {
    const model = buildDecoder({label: 'projection', norm: 'pre', positions: true, mlp: 'dense-act', activation: 'gelu',
      finalNorm: 'full', extraProjection: true}, 3);
    const generator = layersGenerator(model);
    expect(generator.report.mode).toBe('recompute');
    expect(generator.report.reason).toMatch(/expected an Embedding, found Dense/);
    expect(generator.report.positions).toBe(ROWS);
    const prompts = [[5, 9, 13, 2, 7], [11, 3], [4, 4]];
    const result = await generator.generate(prompts, {maxNewTokens: 6});
    expect(result.tokens).toEqual(prompts.map(p => greedyByPredict(model, p, 6).tokens));
    const before = tf.memory().numTensors;
    await generator.generate(prompts, {maxNewTokens: 3});
    expect(tf.memory().numTensors).toBe(before);
    generator.dispose();
    model.dispose();
  });

  test('an encoder (MultiHeadAttention without use_causal_mask, keras_mha) is refused with the reason', async () => {
    const model = await loadFixture('keras_mha').loadLayersModel();
    const before = tf.memory().numTensors;
    expect(() => layersGenerator(model)).toThrow(BetterTransformerArgumentError);
    expect(() => layersGenerator(model)).toThrow(/cannot generate with this model: MultiHeadAttention 'mha_0' is called without use_causal_mask/);
    expect(() => layersGenerator(model, {cache: false})).toThrow(/use_causal_mask/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('a model taking inputs besides token and position ids is refused with the reason', () => {
    const model = buildDecoder({label: 'segments', norm: 'pre', positions: true, mlp: 'dense-act', activation: 'gelu',
      finalNorm: 'full', extraInput: true}, 4);
    expect(() => layersGenerator(model)).toThrow(BetterTransformerArgumentError);
    expect(() => layersGenerator(model)).toThrow(/inputs besides token ids.*segment_ids/);
    model.dispose();
  });

  test('options are checked as for a GraphModel', () => {
    const model = buildDecoder({label: 'options', norm: 'pre', positions: true, mlp: 'dense-act', activation: 'gelu'}, 5);
    expect(() => layersGenerator(model, {weightPrecision: 'float16' as never})).toThrow(/weightPrecision/);
    expect(() => layersGenerator(model, {maxLenght: 3} as never)).toThrow(/maxLenght/);
    model.dispose();
  });
});
