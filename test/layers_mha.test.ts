/**
 * Keras MultiHeadAttention on tfjs-layers (src/layers): the plain path against
 * an einsum oracle written from Keras' equations, the fused path against the
 * plain one, serialisation, the layers-model transform, training and leaks,
 * and a Keras model converted by tensorflowjs_converter when its fixture exists.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {MultiHeadAttention, withKerasCallArguments} from '../src';
import {reverseLayersModel, transformLayersModel} from '../src/layers/transform_layers_model';
import {FIXTURES_DIR, loadFixture} from './helpers/load_fixture';
import {randn} from './helpers/random';
import {expectClose} from './helpers/tolerance';
import {referenceKerasMha} from './reference/keras_mha_reference';

type Sym = tfl.SymbolicTensor;

interface Case {
  label: string;
  H: number;
  keyDim: number;
  valueDim?: number;
  T: number;
  S?: number;
  E: number;
  outputShape?: number;
  useBias?: boolean;
  mask?: 'padding' | 'random-with-empty-row';
  causal?: boolean;
}

const CASES: Case[] = [
  {label: 'self-attention, one head, no mask', H: 1, keyDim: 8, T: 6, E: 8},
  {label: 'self-attention, 2 heads, key_dim != value_dim, padding mask', H: 2, keyDim: 4, valueDim: 6, T: 7, E: 8, mask: 'padding'},
  {label: 'cross-attention Sq != Sk, 4 heads, output_shape, a fully masked row', H: 4, keyDim: 3, valueDim: 5, T: 5, S: 9,
    E: 8, outputShape: 10, mask: 'random-with-empty-row'},
  {label: 'causal self-attention', H: 2, keyDim: 4, T: 6, E: 8, causal: true},
  {label: 'causal cross-attention Sq != Sk with a padding mask, no bias', H: 2, keyDim: 4, T: 4, S: 6, E: 8, causal: true,
    mask: 'padding', useBias: false},
];

/** [B, T, S] 0/1 float mask. */
function maskFor(c: Case, B: number, seed: number): tf.Tensor3D | null {
  const T = c.T, S = c.S ?? c.T;
  if (c.mask == null) return null;
  const data = new Float32Array(B * T * S);
  for (let b = 0; b < B; b++) {
    const length = Math.max(1, S - 2 * b);  // batch b sees its first `length` keys
    for (let t = 0; t < T; t++) {
      for (let s = 0; s < S; s++) {
        let visible = s < length;
        if (c.mask === 'random-with-empty-row') visible = ((b * 31 + t * 17 + s * 7 + seed) % 3) !== 0 && !(b === 0 && t === 1);
        data[(b * T + t) * S + s] = visible ? 1 : 0;
      }
    }
  }
  return tf.tensor3d(data, [B, T, S]);
}

function buildModel(c: Case, name = 'mha') {
  const cross = c.S != null;
  const query = tfl.input({shape: [c.T, c.E], name: 'query_in'});
  const value = cross ? tfl.input({shape: [c.S!, c.E], name: 'value_in'}) : query;
  const mask = c.mask != null ? tfl.input({shape: [c.T, c.S ?? c.T], name: 'mask_in'}) : null;
  const layer = new MultiHeadAttention({
    numHeads: c.H, keyDim: c.keyDim, valueDim: c.valueDim, outputShape: c.outputShape, useBias: c.useBias, name,
  });
  const kwargs: Record<string, unknown> = {value};
  if (mask != null) kwargs['attentionMask'] = mask;
  if (c.causal) kwargs['useCausalMask'] = true;
  const output = layer.apply(query, kwargs) as Sym;
  const inputs = [query, ...(cross ? [value] : []), ...(mask != null ? [mask] : [])];
  const model = tfl.model({inputs, outputs: output});
  // Biases start at zero; random ones check their shapes and placement too.
  model.setWeights(layer.getWeights().map((w, i) => randn(w.shape, 100 + i, 0.4)));
  return {model, layer};
}

function inputsFor(c: Case, B: number, seed: number): tf.Tensor[] {
  const xs: tf.Tensor[] = [randn([B, c.T, c.E], seed)];
  if (c.S != null) xs.push(randn([B, c.S, c.E], seed + 1));
  const mask = maskFor(c, B, seed);
  if (mask != null) xs.push(mask);
  return xs;
}

function weightsOf(layer: tfl.layers.Layer, useBias: boolean) {
  const w = layer.getWeights();
  return useBias ?
      {wq: w[0], bq: w[1], wk: w[2], bk: w[3], wv: w[4], bv: w[5], wo: w[6], bo: w[7]} :
      {wq: w[0], wk: w[1], wv: w[2], wo: w[3]};
}

function predict(model: tfl.LayersModel, xs: tf.Tensor[]): tf.Tensor {
  return model.predict(xs.length === 1 ? xs[0] : xs) as tf.Tensor;
}

describe('MultiHeadAttention layer numerics', () => {
  it.each(CASES)('$label: plain = einsum oracle, fused = plain', c => {
    const {model, layer} = buildModel(c);
    const B = 3;
    const xs = inputsFor(c, B, 7);
    const plain = predict(model, xs);
    const maskIndex = c.mask != null ? xs.length - 1 : -1;
    const expected = referenceKerasMha({
      query: xs[0], value: c.S != null ? xs[1] : xs[0], weights: weightsOf(layer, c.useBias ?? true),
      attentionMask: maskIndex >= 0 ? xs[maskIndex] : null, useCausalMask: c.causal ?? false, keyDim: c.keyDim,
    });
    expectClose(plain, expected, undefined, 'plain vs einsum oracle');
    (layer as unknown as {useFusedAttention: boolean}).useFusedAttention = true;
    const fused = predict(model, xs);
    expectClose(fused, plain, undefined, 'fused vs plain');
    tf.dispose([plain, fused, expected, ...xs]);
    model.dispose();
  });

  it('applies Keras implicit masks (Embedding mask_zero) to queries and keys, fused and plain alike', () => {
    const ids = tfl.input({shape: [6], dtype: 'int32'});
    const embedded = tfl.layers.embedding({inputDim: 11, outputDim: 8, maskZero: true}).apply(ids) as Sym;
    const layer = new MultiHeadAttention({numHeads: 2, keyDim: 4});
    const model = tfl.model({inputs: ids, outputs: layer.apply(embedded, {value: embedded}) as Sym});
    const tokens = tf.tensor2d([[3, 4, 5, 0, 0, 0], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]], [3, 6], 'int32');
    const plain = model.predict(tokens) as tf.Tensor;
    const embedding = model.layers[1].getWeights()[0];
    const valid = tf.notEqual(tokens, 0);
    const expected = referenceKerasMha({
      query: tf.gather(embedding, tokens), value: tf.gather(embedding, tokens),
      weights: weightsOf(layer, true), keyDim: 4, useCausalMask: false,
      attentionMask: tf.logicalAnd(tf.expandDims(valid, 2), tf.expandDims(valid, 1)),
    });
    expectClose(plain, expected, undefined, 'plain vs oracle with implicit masks');
    layer.useFusedAttention = true;
    expectClose(model.predict(tokens) as tf.Tensor, plain, undefined, 'fused vs plain with implicit masks');
  });

  it('refuses attention_axes other than the sequence axis, and inputs that are not 3-D', () => {
    expect(() => new MultiHeadAttention({numHeads: 2, keyDim: 4, attentionAxes: [2]})).toThrow(/attention_axes \[2\]/);
    expect(() => new MultiHeadAttention({numHeads: 2, keyDim: 4, attentionAxes: [1]})).not.toThrow();
    const x = tfl.input({shape: [2, 3, 8]});
    expect(() => new MultiHeadAttention({numHeads: 2, keyDim: 4}).apply(x, {value: x})).toThrow(/only 3-D query/);
  });
});

async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  if (tf.getBackend() === 'tensorflow') {
    // Under jest, tfjs-node's typed arrays come from another realm, which model.save's
    // weight encoder rejects; the same artifacts are written here from copies.
    const {data, specs} = await tf.io.encodeWeights(model.weights.map(w => ({
      name: w.originalName, tensor: tf.tensor(Float32Array.from(w.read().dataSync()), w.shape as number[]),
    })));
    return {modelTopology: model.toJSON(null, false) as object, weightSpecs: specs, weightData: data};
  }
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(tf.io.withSaveHandler(async artifacts => {
    saved = artifacts;
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  return saved!;
}

describe('MultiHeadAttention serialisation', () => {
  const c = CASES[2];

  it('names and shapes its weights as Keras does', () => {
    const {layer} = buildModel(c, 'cross_mha');
    expect(layer.weights.map(w => [w.originalName, w.shape])).toEqual([
      ['cross_mha/query/kernel', [8, 4, 3]], ['cross_mha/query/bias', [4, 3]],
      ['cross_mha/key/kernel', [8, 4, 3]], ['cross_mha/key/bias', [4, 3]],
      ['cross_mha/value/kernel', [8, 4, 5]], ['cross_mha/value/bias', [4, 5]],
      ['cross_mha/attention_output/kernel', [4, 5, 10]], ['cross_mha/attention_output/bias', [10]],
    ]);
  });

  it('round-trips through toJSON/modelFromJSON and through save/load in memory', async () => {
    const {model} = buildModel(c);
    const xs = inputsFor(c, 2, 3);
    const before = predict(model, xs);

    const fromJson = await tfl.models.modelFromJSON(JSON.parse(model.toJSON(null, true) as string));
    fromJson.setWeights(model.getWeights());
    expectClose(predict(fromJson, xs), before, undefined, 'toJSON -> modelFromJSON');

    const saved = await saveToMemory(model);
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved));
    expect(loaded.layers.find(l => l.name === 'mha')).toBeInstanceOf(MultiHeadAttention);
    expectClose(predict(loaded, xs), before, undefined, 'save -> loadLayersModel');
  });

  it('loads the JSON Keras writes for a call whose value and mask come from their own Inputs', async () => {
    // As tensorflowjs_converter writes it: the query is the node's input, the rest are references.
    const kerasLayer = (name: string, className: string, config: object, inboundNodes: unknown[]) =>
      ({class_name: className, name, config: {name, ...config}, inbound_nodes: inboundNodes});
    const topology = {
      class_name: 'Functional',
      config: {
        name: 'model',
        layers: [
          kerasLayer('q_in', 'InputLayer', {batch_input_shape: [null, 5, 8], dtype: 'float32'}, []),
          kerasLayer('v_in', 'InputLayer', {batch_input_shape: [null, 9, 8], dtype: 'float32'}, []),
          kerasLayer('mask_in', 'InputLayer', {batch_input_shape: [null, 5, 9], dtype: 'float32'}, []),
          kerasLayer('cross_mha', 'MultiHeadAttention', {
            num_heads: 4, key_dim: 3, value_dim: 5, dropout: 0.0, use_bias: true, output_shape: 10, attention_axes: [1],
            kernel_initializer: {class_name: 'GlorotUniform', config: {seed: null}},
            bias_initializer: {class_name: 'Zeros', config: {}}, kernel_regularizer: null, bias_regularizer: null,
            activity_regularizer: null, kernel_constraint: null, bias_constraint: null,
            query_shape: [null, 5, 8], key_shape: [null, 9, 8], value_shape: [null, 9, 8],
          }, [[['q_in', 0, 0, {value: ['v_in', 0, 0], attention_mask: ['mask_in', 0, 0], use_causal_mask: true}]]]),
        ],
        input_layers: [['q_in', 0, 0], ['v_in', 0, 0], ['mask_in', 0, 0]],
        output_layers: [['cross_mha', 0, 0]],
      },
    };
    const {model: source, layer: sourceLayer} = buildModel({...c, causal: true}, 'cross_mha');
    const {data, specs} = await tf.io.encodeWeights(
        sourceLayer.weights.map((w, i) => ({name: w.originalName, tensor: sourceLayer.getWeights()[i]})));
    const artifacts = {modelTopology: topology, weightSpecs: specs, weightData: data};

    await expect(tfl.loadLayersModel(tf.io.fromMemory(artifacts))).rejects.toThrow(/not connected to the query/);
    const model = await tfl.loadLayersModel(withKerasCallArguments(tf.io.fromMemory(artifacts)));
    const xs = inputsFor(c, 2, 5);
    expectClose(predict(model, xs), predict(source, xs), undefined, 'Keras JSON vs the model built in TS');
  });
});

describe('transformLayersModel / reverseLayersModel', () => {
  const c = CASES[1];

  it('fuses every MultiHeadAttention in place and reports it; reverse gives the plain model back', () => {
    const {model, layer} = buildModel(c);
    const xs = inputsFor(c, 2, 11);
    const plain = predict(model, xs);
    const {model: same, report} = transformLayersModel(model);
    expect(same).toBe(model);
    expect(layer.useFusedAttention).toBe(true);
    expect(report).toEqual({architecture: 'Keras layers model', skipped: [],
      fused: [{kind: 'attention', layers: 1, nodes: ['mha']}]});
    expectClose(predict(model, xs), plain, undefined, 'transformed');
    expect(reverseLayersModel(model)).toBe(model);
    expect(layer.useFusedAttention).toBe(false);
    expect(Array.from(predict(model, xs).dataSync())).toEqual(Array.from(plain.dataSync()));
  });

  it('keepOriginalModel: transforms a copy and leaves the original untouched and usable', () => {
    const {model, layer} = buildModel(c);
    const xs = inputsFor(c, 2, 12);
    const plain = predict(model, xs);
    const {model: copy, report} = transformLayersModel(model, {keepOriginalModel: true});
    expect(copy).not.toBe(model);
    expect(layer.useFusedAttention).toBe(false);
    expect(report.fused).toHaveLength(1);
    expect((copy.getLayer('mha') as unknown as {useFusedAttention: boolean}).useFusedAttention).toBe(true);
    expectClose(predict(copy, xs), plain, undefined, 'copy');
    copy.dispose();
    expect(Array.from(predict(model, xs).dataSync())).toEqual(Array.from(plain.dataSync()));
  });

  it('reports attention-like layers it does not know', () => {
    class RelativeAttention extends tfl.layers.Layer {
      static className = 'RelativeAttention';
      override call(inputs: tf.Tensor | tf.Tensor[]) {
        return Array.isArray(inputs) ? inputs[0] : inputs;
      }
    }
    const x = tfl.input({shape: [4, 8]});
    const y = new RelativeAttention({name: 'rel_attn'}).apply(x) as Sym;
    const {report} = transformLayersModel(tfl.model({inputs: x, outputs: y}));
    expect(report.fused).toEqual([]);
    expect(report.skipped).toEqual([{nodes: ['rel_attn'], reason: expect.stringMatching(/RelativeAttention is not a known/)}]);
  });
});

describe('training through the fused path', () => {
  // Every query row sees a key here: for a row with none, Keras' ops differentiate the softmax of
  // scores that the -1e9 term has already swamped, while the fused path's gradient is the one of
  // the uniform average it returns (no dependence on q and k).
  it('model.fit gives the losses and weights of the plain path', async () => {
    const c: Case = {label: 'fit', H: 2, keyDim: 4, valueDim: 3, T: 4, S: 6, E: 8, outputShape: 5, mask: 'padding'};
    const run = async (fused: boolean) => {
      const {model, layer} = buildModel(c);
      layer.useFusedAttention = fused;
      model.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
      const xs = inputsFor(c, 4, 21);
      const ys = randn([4, c.T, c.outputShape!], 22);
      const history = await model.fit(xs, ys, {epochs: 4, batchSize: 4, shuffle: false, verbose: 0});
      return {losses: history.history['loss'] as number[], weights: model.getWeights()};
    };
    const plain = await run(false);
    const fused = await run(true);
    expect(plain.losses[3]).toBeLessThan(plain.losses[0]);
    fused.losses.forEach((loss, i) => expect(Math.abs(loss - plain.losses[i])).toBeLessThan(1e-5 * Math.max(1, plain.losses[i])));
    fused.weights.forEach((w, i) => expectClose(w, plain.weights[i], {rtol: 1e-4, atol: 1e-5}, `weight ${i}`));
  });
});

describe('tensor leaks', () => {
  it('keeps numTensors stable over repeated predict calls, plain and fused', () => {
    const c = CASES[4];
    const {model, layer} = buildModel(c);
    const xs = inputsFor(c, 2, 31);
    for (const fused of [false, true]) {
      layer.useFusedAttention = fused;
      tf.dispose(predict(model, xs));
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) tf.dispose(predict(model, xs));
      expect(tf.memory().numTensors).toBe(before);
    }
  });
});

const KERAS_FIXTURE = path.join(FIXTURES_DIR, 'keras_mha');
const describeFixture = fs.existsSync(path.join(KERAS_FIXTURE, 'reference.json')) ? describe : describe.skip;

describeFixture('a Keras model converted by tensorflowjs_converter (test/fixtures/keras_mha)', () => {
  it('loads with tf.loadLayersModel, matches Keras, and again once transformed and reversed', async () => {
    const fixture = loadFixture('keras_mha');
    const model = await fixture.loadLayersModel();
    const input = fixture.inputs()['input_ids'];
    const expected = fixture.referenceOutput(fixture.outputNames[0]);
    const keras = {rtol: 1e-4, atol: 1e-4};

    expectClose(model.predict(input) as tf.Tensor, expected, keras, 'loaded vs Keras');
    const {model: copy} = transformLayersModel(model, {keepOriginalModel: true});
    expectClose(copy.predict(input) as tf.Tensor, expected, keras, 'transformed copy vs Keras');
    copy.dispose();
    const {report} = transformLayersModel(model);
    expect(report.fused.map(f => f.nodes[0]).sort()).toEqual(['mha_0', 'mha_1']);
    expectClose(model.predict(input) as tf.Tensor, expected, keras, 'transformed vs Keras');
    reverseLayersModel(model);
    expectClose(model.predict(input) as tf.Tensor, expected, keras, 'reversed vs Keras');
  });
});
