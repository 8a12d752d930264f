/**
 * Converted fixture models (test/fixtures, served by run.js under /fixtures/)
 * loaded over HTTP with the browser build's loaders, transformed with
 * BetterTransformer.transform on the `cpu` backend, and held to the same
 * bounds as test/transform_fixtures.test.ts: outputs within 1e-5 (relative to
 * the largest output, real tokens only) of the untransformed model, within
 * 1e-4 of the Python reference, one fused block per layer, and the report's
 * architecture named from the architecture table the bundle carries.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {BetterTransformer, loadGraphModelFromDirectory, loadLayersModelFromDirectory} from 'tfjs-better-transformer';
import type {FixtureMeta, FixtureReference} from '../helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from '../helpers/fixture_outputs';
import {BrowserCase, check} from './suite';

const ORIGINAL_TOLERANCE = 1e-5;
const REFERENCE_TOLERANCE = 1e-4;

/** Graph-model fixtures, each loaded from another form of URL, and a family its report must name. */
const GRAPH_FIXTURES: Array<{id: string; form: string; url: (dir: string) => string; family: string}> = [
  {id: 'bert', form: '/fixtures/bert', url: dir => dir, family: 'BERT'},
  {id: 'distilbert', form: '/fixtures/distilbert/model.json', url: dir => `${dir}/model.json`, family: 'DistilBERT'},
  {id: 't5_encoder', form: '/fixtures/t5_encoder/', url: dir => `${dir}/`, family: 'T5 encoder'},
  {id: 'vit', form: 'an absolute http:// URL of model.json', url: dir => new URL(`${dir}/model.json`, pageUrl()).href, family: 'ViT'},
];

/** The page's own URL (the page is served by run.js), for an absolute model URL. */
const pageUrl = () => (globalThis as unknown as {location: {href: string}}).location.href;

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return await response.json() as T;
}

async function fixtureFiles(id: string) {
  const dir = `/fixtures/${id}`;
  const meta = await getJson<FixtureMeta>(`${dir}/fixture.json`);
  const reference = await getJson<FixtureReference>(`${dir}/reference.json`);
  const toTensor = (t: {data: number[]; shape: number[]; dtype: 'int32' | 'float32'}) => tf.tensor(t.data, t.shape, t.dtype);
  return {
    dir, meta, reference, outputNames: Object.keys(reference.outputs), validTokens: validTokensOf(reference),
    inputs: (): tf.NamedTensorMap => Object.fromEntries(Object.entries(reference.inputs).map(([n, t]) => [n, toTensor(t)])),
    referenceOutput: (name: string) => toTensor(reference.outputs[name]),
  };
}

type Files = Awaited<ReturnType<typeof fixtureFiles>>;

function checkOutputs(label: string, files: Files, before: tf.Tensor, after: tf.Tensor, name: string): void {
  const want = files.referenceOutput(name);
  try {
    const original = relativeErrorOnTokens(after, before, files.validTokens);
    check(original <= ORIGINAL_TOLERANCE, `${label} '${name}': transformed vs original ${original.toExponential(2)} > ${ORIGINAL_TOLERANCE}`);
    for (const [which, got] of [['original', before], ['transformed', after]] as const) {
      const error = relativeErrorOnTokens(got, want, files.validTokens);
      check(error <= REFERENCE_TOLERANCE, `${label} '${name}': ${which} vs Python ${error.toExponential(2)} > ${REFERENCE_TOLERANCE}`);
    }
  } finally {
    want.dispose();
  }
}

function checkReport(label: string, model: GraphModel | LayersModel, layers: number): void {
  const report = BetterTransformer.report(model);
  check(report !== undefined, `${label}: no transform report`);
  const fusedLayers = report!.fused.reduce((n, b) => n + b.layers, 0);
  check(report!.fused.length > 0 && fusedLayers === layers,
        `${label}: ${report!.fused.length} fused blocks over ${fusedLayers} layers (expected ${layers} layers); ` +
        `skipped: ${report!.skipped.map(s => s.reason).join('; ')}`);
  if (report!.verification) check(report!.verification.status === 'agreed', `${label}: verification ${JSON.stringify(report!.verification)}`);
}

async function checkGraphFixture(id: string, url: (dir: string) => string, family: string): Promise<void> {
  const files = await fixtureFiles(id);
  const model = await loadGraphModelFromDirectory(url(files.dir));
  const inputs = files.inputs();
  try {
    const before = outputsOf(model, inputs, files.outputNames);
    const transformed = BetterTransformer.transform(model);
    check(transformed === model, `${id}: transform returned another model`);
    checkReport(id, transformed, files.meta.layers);
    const architecture = BetterTransformer.report(transformed)!.architecture ?? '';
    check(architecture.includes(family), `${id}: the report's architecture '${architecture}' does not name ${family}`);
    const after = outputsOf(transformed, inputs, files.outputNames);
    for (const name of files.outputNames) checkOutputs(id, files, before[name], after[name], name);
    tf.dispose([...Object.values(before), ...Object.values(after)]);
  } finally {
    tf.dispose(Object.values(inputs));
    model.dispose();
  }
}

/** keras_mha: a Keras model with MultiHeadAttention layers (the package's layer deserialises them). */
async function checkLayersFixture(): Promise<void> {
  const files = await fixtureFiles('keras_mha');
  const model = await loadLayersModelFromDirectory(`${files.dir}/`);
  const inputs = files.inputs();
  const name = files.outputNames[0];
  try {
    const ordered = model.inputNames.map(n => inputs[n]);
    const before = model.predict(ordered) as tf.Tensor;
    const transformed = BetterTransformer.transform(model);
    checkReport('keras_mha', transformed, files.meta.layers);
    const after = transformed.predict(ordered) as tf.Tensor;
    checkOutputs('keras_mha', files, before, after, name);
    tf.dispose([before, after]);
    if (transformed !== model) transformed.dispose();
  } finally {
    tf.dispose(Object.values(inputs));
    model.dispose();
  }
}

export function fixtureCases(): BrowserCase[] {
  return [
    ...GRAPH_FIXTURES.map(({id, form, url, family}) => ({
      suite: 'BetterTransformer.transform on fixtures loaded over HTTP',
      name: `${id}: graph model from ${form}`,
      run: () => checkGraphFixture(id, url, family),
    })),
    {
      suite: 'BetterTransformer.transform on fixtures loaded over HTTP',
      name: 'keras_mha: layers model with MultiHeadAttention from /fixtures/keras_mha/',
      run: checkLayersFixture,
    },
  ];
}
