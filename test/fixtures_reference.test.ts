/**
 * The fixtures themselves (test/fixtures, made by tools/fixtures): each
 * converted model, loaded with plain tfjs and not rewritten, reproduces the
 * outputs TensorFlow computed in Python for the same inputs, on every position
 * (padding included). This checks the converter output, the reference files
 * and the loader on the backend the jest project runs.
 *
 * Tolerance: |tfjs − python| <= rtol·|python| + atol·max(1, max|python|).
 * float32 weights: rtol = atol = 1e-4 (different kernels, same float32 maths).
 * Quantised weights change the model itself, so those fixtures only have to
 * stay near the float model: float16 rtol = atol = 5e-3, uint8 rtol = atol = 1e-1 (measured: float32
 * about 1e-6 of the output scale, float16 5e-4, uint8 3e-2).
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the Keras layers tfjs-layers lacks (MultiHeadAttention) for the layers-model fixtures.
import '../src';
import {closeness, Tolerance} from './helpers/tolerance';
import {listFixtures, loadFixture} from './helpers/load_fixture';

const TOLERANCE: Record<'none' | 'float16' | 'uint8', Tolerance> = {
  none: {rtol: 1e-4, atol: 1e-4},
  float16: {rtol: 5e-3, atol: 5e-3},
  uint8: {rtol: 1e-1, atol: 1e-1},
};

const fixtures = listFixtures();

/**
 * Layers-model fixtures tfjs cannot load yet, with the reason. tfjs-layers' CommonJS build has no
 * MultiHeadAttention; this package registers one (src/layers), which does not yet resolve an
 * attention_mask that comes from its own Input layer ("not connected to the query's inputs").
 */
const NOT_YET_LOADABLE = new Map([
  ['keras_mha_attention_mask', 'MultiHeadAttention with an attention_mask from a separate Input'],
]);

test('the fixture set is complete', () => {
  expect(fixtures.map(f => f.id)).toEqual(expect.arrayContaining([
    'albert', 'bert', 'bert_fp16', 'bert_static', 'bert_uint8', 'clip_text', 'clip_vision', 'deit', 'distilbert',
    'electra', 'gpt2', 'keras_mha', 'keras_mha_attention_mask', 'mobilebert', 'roberta', 't5_encoder', 'vit',
    'whisper_encoder', 'xlm_roberta',
  ]));
});

function expectMatchesReference(got: tf.Tensor, want: tf.Tensor, tol: Tolerance, label: string) {
  expect(got.shape).toEqual(want.shape);
  const result = closeness(got.dataSync(), want.dataSync(), tol);
  if (!result.ok) throw new Error(`${label}: not within tolerance: ${result.detail}`);
}

describe.each(fixtures.filter(f => f.format === 'graph-model').map(f => [f.id] as const))('graph model %s', id => {
  const fixture = loadFixture(id);
  const {meta, reference} = fixture;

  test('fixture.json describes the converted model', () => {
    const model = fixture.loadGraphModel();
    const inputs = Object.fromEntries(model.inputs.map(i => [i.name, i]));
    expect(Object.keys(reference.inputs).sort()).toEqual(Object.keys(meta.signature.inputs).sort());
    for (const [name, spec] of Object.entries(meta.signature.inputs)) {
      const node = inputs[spec.tensor.replace(/:0$/, '')];
      expect(node).toBeDefined();
      expect(node.dtype).toBe(spec.dtype);
      expect(reference.inputs[name].dtype).toBe(spec.dtype);
      spec.shape.forEach((size, axis) => {
        if (size !== null) expect(reference.inputs[name].shape[axis]).toBe(size);
      });
    }
    expect(fixture.outputNames.sort()).toEqual([...meta.signature.outputs].sort());
    model.dispose();
  });

  test(`matches the TensorFlow reference (${meta.quantization ?? 'float32'} weights)`, () => {
    const model = fixture.loadGraphModel();
    const inputs = fixture.inputs();
    const out = model.execute(inputs, fixture.outputNames);
    const outputs = Array.isArray(out) ? out : [out];
    const tol = TOLERANCE[meta.quantization ?? 'none'];
    fixture.outputNames.forEach((name, i) => {
      const want = fixture.referenceOutput(name);
      expectMatchesReference(outputs[i], want, tol, `${id} ${name}`);
      want.dispose();
    });
    tf.dispose([...outputs, ...Object.values(inputs)]);
    model.dispose();
  });
});

describe.each(fixtures.filter(f => f.format === 'layers-model').map(f => [f.id] as const))('layers model %s', id => {
  const fixture = loadFixture(id);
  const {meta} = fixture;

  test('the topology holds one MultiHeadAttention layer per encoder layer', () => {
    const topology = fixture.artifacts.modelTopology as {model_config: {config: {layers: Array<{class_name: string}>}}};
    const classes = topology.model_config.config.layers.map(l => l.class_name);
    expect(classes.filter(c => c === 'MultiHeadAttention')).toHaveLength(meta.layers);
    expect(classes.filter(c => c === 'InputLayer')).toHaveLength(Object.keys(meta.signature.inputs).length);
  });

  if (NOT_YET_LOADABLE.has(id)) {
    test.todo(`${id}: load with tfjs-layers and match the Keras reference (${NOT_YET_LOADABLE.get(id)})`);
    return;
  }

  test('loads with tfjs-layers and matches the Keras reference', async () => {
    const model = await fixture.loadLayersModel();
    const inputs = fixture.inputs();
    // predict takes the inputs in the order of the model's Input layers.
    expect([...model.inputNames].sort()).toEqual(Object.keys(inputs).sort());
    const got = model.predict(model.inputNames.map(name => inputs[name])) as tf.Tensor;
    const want = fixture.referenceOutput(fixture.outputNames[0]);
    expectMatchesReference(got, want, TOLERANCE.none, `${id} ${fixture.outputNames[0]}`);
    tf.dispose([got, want, ...Object.values(inputs)]);
    model.dispose();
  });
});
