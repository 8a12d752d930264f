/**
 * loadGraphModelFromDirectory / loadLayersModelFromDirectory / directoryIOHandler:
 * converted models from a directory with tfjs-core and the backend alone (no
 * tfjs-node file handler), checked against the Python references stored with
 * the fixtures (tolerance as in fixtures_reference.test.ts: 1e-4, float32);
 * a save and reload round trip; and clear errors for bad locations.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  BetterTransformer, BetterTransformerArgumentError, directoryIOHandler, loadGraphModelFromDirectory,
  loadLayersModelFromDirectory, ModelFileError,
} from '../src';
import {closeness} from './helpers/tolerance';
import {FIXTURES_DIR, loadFixture} from './helpers/load_fixture';
import {relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';

const TOLERANCE = {rtol: 1e-4, atol: 1e-4};

function expectClose(got: tf.Tensor, want: tf.Tensor, label: string) {
  expect(got.shape).toEqual(want.shape);
  const result = closeness(got.dataSync(), want.dataSync(), TOLERANCE);
  if (!result.ok) throw new Error(`${label}: ${result.detail}`);
}

let scratch: string;
beforeAll(() => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bt-directory-loader-'));
});
afterAll(() => fs.rmSync(scratch, {recursive: true, force: true}));

test('the backend under test has no file:// handler of its own (what these loaders replace)', () => {
  // On the tfjs-node backend tfjs-node registers one; everywhere else tf.loadGraphModel('file://…') falls back to fetch.
  if (tf.getBackend() === 'tensorflow') return;
  expect(tf.io.getLoadHandlers('file:///tmp/model.json')).toHaveLength(0);
});

describe.each(['bert', 'distilbert'])('graph model %s', id => {
  const fixture = loadFixture(id);

  test.each([
    ['the directory', (dir: string) => dir],
    ['model.json', (dir: string) => path.join(dir, 'model.json')],
    ['a file:// URL', (dir: string) => `file://${dir}`],
  ])('loads from %s and matches the Python reference, before and after transform', async (_label, where) => {
    const model = await loadGraphModelFromDirectory(where(fixture.dir));
    const inputs = fixture.inputs();
    const name = fixture.outputNames[0];
    const want = fixture.referenceOutput(name);
    const before = model.execute(inputs, name) as tf.Tensor;
    expectClose(before, want, `${id} loaded`);
    const fused = BetterTransformer.transform(model);
    expect(BetterTransformer.report(fused)!.fused.length).toBeGreaterThan(0);
    // Padded positions differ by design (the fused stack skips them): real tokens only.
    const after = fused.execute(inputs, name) as tf.Tensor;
    expect(relativeErrorOnTokens(after, want, validTokensOf(fixture.reference))).toBeLessThan(1e-4);
    tf.dispose([before, after, want, ...Object.values(inputs)]);
    model.dispose();
    fused.dispose();
  });
});

test('a layers model loads and matches the Keras reference; save and reload through the handler round-trips', async () => {
  const fixture = loadFixture('keras_mha');
  const model = await loadLayersModelFromDirectory(fixture.dir);
  const inputs = fixture.inputs();
  const ordered = model.inputNames.map(n => inputs[n]);
  const want = fixture.referenceOutput(fixture.outputNames[0]);
  const got = model.predict(ordered) as tf.Tensor;
  expectClose(got, want, 'keras_mha');

  const saved = path.join(scratch, 'keras_mha_copy');
  const result = await model.save(directoryIOHandler(saved));
  expect(result.modelArtifactsInfo.weightDataBytes).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(saved, 'model.json'))).toBe(true);
  const reloaded = await loadLayersModelFromDirectory(saved);
  const again = reloaded.predict(reloaded.inputNames.map(n => inputs[n])) as tf.Tensor;
  expect(Array.from(again.dataSync())).toEqual(Array.from(got.dataSync()));
  tf.dispose([got, again, want, ...Object.values(inputs)]);
  model.dispose();
  reloaded.dispose();
});

test('a graph model saved through the handler reloads with the same outputs', async () => {
  const fixture = loadFixture('bert');
  const model = await loadGraphModelFromDirectory(fixture.dir);
  const saved = path.join(scratch, 'bert_copy');
  await model.save(directoryIOHandler(saved));
  const reloaded = await loadGraphModelFromDirectory(saved);
  const inputs = fixture.inputs();
  const name = fixture.outputNames[0];
  const a = model.execute(inputs, name) as tf.Tensor, b = reloaded.execute(inputs, name) as tf.Tensor;
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  tf.dispose([a, b, ...Object.values(inputs)]);
  model.dispose();
  reloaded.dispose();
});

describe('bad locations', () => {
  test('a missing directory names the path', async () => {
    const missing = path.join(scratch, 'no-such-model');
    await expect(loadGraphModelFromDirectory(missing)).rejects.toThrow(ModelFileError);
    await expect(loadGraphModelFromDirectory(missing)).rejects.toThrow(missing);
  });

  test('a missing weight shard is named', async () => {
    const dir = path.join(scratch, 'no-shard');
    fs.mkdirSync(dir, {recursive: true});
    fs.copyFileSync(path.join(FIXTURES_DIR, 'bert', 'model.json'), path.join(dir, 'model.json'));
    await expect(loadGraphModelFromDirectory(dir)).rejects.toThrow(/group1-shard1of1\.bin .*missing/);
  });

  test('a file that is not a model.json says so', async () => {
    const dir = path.join(scratch, 'not-a-model');
    fs.mkdirSync(dir, {recursive: true});
    fs.writeFileSync(path.join(dir, 'model.json'), '{"hello": 1}');
    await expect(loadLayersModelFromDirectory(dir)).rejects.toThrow(/not a tfjs model\.json/);
  });

  test.each([
    [undefined, /'location' must be a directory/],
    ['', /'location' must be a directory/],
    [42, /'location' must be a directory .* got number/],
    ['https://example.invalid/model/', /is a URL; in Node pass a local directory/],
  ])('%p is refused with an argument error', async (location, message) => {
    const load = loadGraphModelFromDirectory as (l: unknown) => Promise<unknown>;
    await expect(load(location)).rejects.toThrow(BetterTransformerArgumentError);
    await expect(load(location)).rejects.toThrow(message);
    expect(() => directoryIOHandler(location as string)).toThrow(BetterTransformerArgumentError);
  });
});
