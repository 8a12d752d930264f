/**
 * The embedding-sum fusion (the EmbeddingSum op): the typed-array sum
 * used on `cpu` against tf.gather + tf.add over random tables and
 * broadcasting index shapes; bad indices give a clear error; on converted
 * BERT-family models the lookups, adds and LayerNorm become one op that
 * matches the original model (the `cpu` path on `cpu`, the tfjs-op composite
 * on `tensorflow`).
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import {BetterTransformer, opNames} from '../src';
import {embeddingSumRows} from '../src/portable/embedding_sum';
import {graphModelArtifacts} from '../src/transform/graph_model_transform';
import {loadFixture} from './helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';

interface SumCase {
  width: number;
  tableRows: number[];
  /** Index shape of each term, each broadcasting to [batch, seq]. */
  shapes: number[][];
  seed: number;
}

const caseArbitrary: fc.Arbitrary<SumCase> = fc.record({
  batch: fc.integer({min: 1, max: 4}),
  seq: fc.integer({min: 1, max: 9}),
  width: fc.constantFrom(1, 3, 8, 17),
  terms: fc.array(fc.record({rows: fc.integer({min: 1, max: 12}), broadcast: fc.constantFrom('full', 'row', 'column', 'scalar')}),
      {minLength: 1, maxLength: 4}),
  seed: fc.integer({min: 0, max: 1000}),
}).map(({batch, seq, width, terms, seed}) => ({
  width, seed, tableRows: terms.map(t => t.rows),
  shapes: terms.map(t => t.broadcast === 'full' ? [batch, seq] : t.broadcast === 'row' ? [1, seq] : t.broadcast === 'column' ? [batch, 1] : [seq]),
}));

function checkSum(c: SumCase): void {
  tf.tidy(() => {
    const tables = c.tableRows.map((rows, i) => tf.randomNormal([rows, c.width], 0, 1, 'float32', c.seed + i));
    const indices = c.shapes.map((shape, i) =>
      tf.randomUniform(shape, 0, c.tableRows[i], 'int32', c.seed + 100 + i));
    let expected = tf.gather(tables[0], indices[0]);
    for (let i = 1; i < tables.length; i++) expected = tf.add(expected, tf.gather(tables[i], indices[i]));
    const {values, rowShape} = embeddingSumRows(tables.map((t, i) => ({
      table: {values: t.dataSync() as Float32Array, rows: c.tableRows[i]},
      indices: {values: indices[i].dataSync(), shape: indices[i].shape},
    })), c.width);
    expect([...rowShape, c.width]).toEqual(expected.shape);
    // Same additions in the same order: exact.
    expect(Array.from(values)).toEqual(Array.from(expected.dataSync()));
  });
}

describe('embeddingSumRows', () => {
  test('equals tf.gather + tf.add over random tables and broadcasting index shapes', () => {
    fc.assert(fc.property(caseArbitrary, c => checkSum(c)), {numRuns: 60, seed: 11});
  });

  test('a constant term is a table indexed by its own rows', () => {
    const table = new Float32Array([1, 2, 3, 4, 5, 6]);  // [3, 2]
    const constant = new Float32Array([10, 20, 30, 40]);  // [1, 2, 2]: one row per position
    const {values, rowShape} = embeddingSumRows([
      {table: {values: table, rows: 3}, indices: {values: [2, 0, 1, 1], shape: [2, 2]}},
      {table: {values: constant, rows: 2}, indices: {values: [0, 1], shape: [1, 2]}},
    ], 2);
    expect(rowShape).toEqual([2, 2]);
    expect(Array.from(values)).toEqual([15, 26, 31, 42, 13, 24, 33, 44]);
  });

  test('bad indices and shapes are clear errors', () => {
    const term = (ids: number[], shape: number[]) => ({table: {values: new Float32Array(6), rows: 3}, indices: {values: ids, shape}});
    expect(() => embeddingSumRows([term([0, 3], [2])], 2)).toThrow(/index 3 is not in \[0, 2\]/);
    expect(() => embeddingSumRows([term([-1, 0], [2])], 2)).toThrow(/index -1 is not in \[0, 2\]/);
    expect(() => embeddingSumRows([term([0.5, 0], [2])], 2)).toThrow(/index 0.5/);
    expect(() => embeddingSumRows([term([0, 1], [2]), term([0, 1, 2], [3])], 2)).toThrow(/do not broadcast/);
    expect(() => embeddingSumRows([], 2)).toThrow(/no terms/);
  });
});

/** Fixtures whose embeddings (lookups + adds + LayerNorm) become one op. */
const EMBEDDINGS_FUSED = ['bert', 'bert_static', 'bert_fp16', 'bert_uint8', 'roberta', 'xlm_roberta', 'distilbert', 'electra', 'albert'];

describe.each(EMBEDDINGS_FUSED)('fixture %s', id => {
  const fixture = loadFixture(id);

  test('the embeddings become one op and the model still matches the original', () => {
    const model = fixture.loadGraphModel();
    const inputs = fixture.inputs();
    const before = outputsOf(model, inputs, fixture.outputNames);
    BetterTransformer.transform(model);
    const nodes = (graphModelArtifacts(model)?.modelTopology as {node: Array<{op: string; input?: string[]}>}).node;
    const fused = nodes.filter(n => n.op === opNames('EmbeddingSum').graphOp);
    expect(fused).toHaveLength(1);
    expect(nodes.some(n => n.op === 'GatherV2' && fused[0].input?.some(i => i === n.input?.[0]))).toBe(false);
    const after = outputsOf(model, inputs, fixture.outputNames);
    const validTokens = validTokensOf(fixture.reference);
    const tolerance = fixture.meta.quantization ? 1e-4 : 1e-5;
    for (const name of fixture.outputNames) expect(relativeErrorOnTokens(after[name], before[name], validTokens)).toBeLessThan(tolerance);
    tf.dispose([...Object.values(before), ...Object.values(after), ...Object.values(inputs)]);
    model.dispose();
  });
});

test('an out-of-vocabulary token id is an error on the transformed model, as on the original', () => {
  const fixture = loadFixture('bert');
  const model = fixture.loadGraphModel();
  const inputs = fixture.inputs();
  const idsName = Object.keys(inputs).find(n => n.includes('input_ids')) as string;
  BetterTransformer.transform(model);
  const bad = {...inputs, [idsName]: tf.fill(inputs[idsName].shape, 1_000_000, 'int32')};
  expect(() => outputsOf(model, bad, fixture.outputNames)).toThrow(tf.getBackend() === 'cpu' ? /index 1000000 is not in \[0, / : /./);
  tf.dispose([...Object.values(inputs), bad[idsName]]);
  model.dispose();
});
