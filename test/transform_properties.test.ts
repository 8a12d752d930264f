/**
 * BetterTransformer.transform on randomly damaged converted models (fast-check
 * over the BERT and GPT-2 fixtures: small constants overwritten — scales,
 * epsilons, reshape sizes, permutations, axes —, inputs rewired, ops swapped,
 * nodes removed). Whatever the damage, either the model comes back unchanged
 * with a report, or it is rewritten and its outputs on real tokens equal the
 * damaged original's, both running. transform never throws, never leaves a
 * model half-changed and never leaks a tensor.
 */
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../src';
import {GraphDef, NodeDef} from '../src/transform/graph/graph_def';
import {graphModelArtifacts} from '../src/transform/graph_model_transform';
import {loadFixture} from './helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';

type Mutation =
  | {kind: 'constant'; pick: number; value: number}
  | {kind: 'rewire'; pick: number; input: number; source: number}
  | {kind: 'op'; pick: number; op: string}
  | {kind: 'remove'; pick: number};

const VALUES = [0, 1, -1, 2, 3, 4, 8, 0.5, -0.5, 1e-12, 1e30, Infinity, -Infinity, NaN];
const OPS = ['AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Tanh', 'Erf', 'Identity', 'Relu', 'Neg', 'Sqrt'];

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({kind: fc.constant('constant' as const), pick: fc.nat(), value: fc.constantFrom(...VALUES)}),
  fc.record({kind: fc.constant('rewire' as const), pick: fc.nat(), input: fc.nat(3), source: fc.nat()}),
  fc.record({kind: fc.constant('op' as const), pick: fc.nat(), op: fc.constantFrom(...OPS)}),
  fc.record({kind: fc.constant('remove' as const), pick: fc.nat()}),
);

/** The fixture's artifacts with `mutations` applied (weights copied, topology cloned). */
function damaged(fixture: ReturnType<typeof loadFixture>, mutations: Mutation[]): tf.io.ModelArtifacts {
  const a = fixture.artifacts;
  const artifacts = {...a, modelTopology: JSON.parse(JSON.stringify(a.modelTopology)), weightData: (a.weightData as ArrayBuffer).slice(0)};
  const graph = artifacts.modelTopology as GraphDef;
  const specs = artifacts.weightSpecs ?? [];
  // Small constants only: the scales, epsilons, shapes, permutations and axes a matcher reads.
  const small = specs.map((spec, i) => ({spec, i})).filter(({spec}) =>
    !spec.quantization && spec.shape.reduce((x, y) => x * y, 1) <= 16 && (spec.dtype === 'float32' || spec.dtype === 'int32'));
  const offsets: number[] = [];
  specs.reduce((offset, spec, i) => (offsets[i] = offset, offset + spec.shape.reduce((x, y) => x * y, 1) * 4), 0);
  const compute = () => graph.node.filter(n => n.op !== 'Const' && n.op !== 'Placeholder');
  for (const m of mutations) {
    if (m.kind === 'constant' && small.length > 0) {
      const {spec, i} = small[m.pick % small.length];
      const count = spec.shape.reduce((x, y) => x * y, 1);
      const element = (m.pick >> 4) % Math.max(count, 1);
      if (spec.dtype === 'int32') new Int32Array(artifacts.weightData, offsets[i], count)[element] = Number.isFinite(m.value) ? Math.trunc(m.value) : 7;
      else new Float32Array(artifacts.weightData, offsets[i], count)[element] = m.value;
    } else if (m.kind === 'rewire') {
      const nodes = compute();
      const node = nodes[m.pick % nodes.length] as NodeDef;
      const inputs = (node.input ?? []).filter(r => !r.startsWith('^'));
      if (inputs.length > 0) {
        const source = graph.node[m.source % graph.node.length];
        if (source.name !== node.name) node.input = (node.input ?? []).map(r => (r === inputs[m.input % inputs.length] ? source.name : r));
      }
    } else if (m.kind === 'op') {
      const nodes = compute();
      const node = nodes[m.pick % nodes.length];
      const arity = (node.input ?? []).filter(r => !r.startsWith('^')).length;
      const binary = ['AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum'].includes(m.op);
      if ((arity === 2) === binary && ['AddV2', 'Sub', 'Mul', 'RealDiv', 'Maximum', 'Tanh', 'Erf', 'Identity', 'Relu', 'Neg',
        'Sqrt', 'Rsqrt', 'Square', 'Pow'].includes(node.op)) node.op = m.op;
    } else if (m.kind === 'remove') {
      const nodes = compute();
      const node = nodes[m.pick % nodes.length];
      graph.node = graph.node.filter(n => n !== node);
    }
  }
  return artifacts;
}

function run(model: GraphModel, inputs: tf.NamedTensorMap, names: string[]): Record<string, tf.Tensor> | null {
  try {
    return outputsOf(model, inputs, names);
  } catch {
    return null;
  }
}

describe.each(['bert', 'gpt2'])('transform on damaged %s graphs', id => {
  const fixture = loadFixture(id);
  const validTokens = validTokensOf(fixture.reference);

  test('leaves the model unchanged with a report, or matches it on real tokens; never throws or leaks', () => {
    let rewritten = 0, unchanged = 0;
    fc.assert(fc.property(fc.array(mutation, {minLength: 1, maxLength: 3}), mutations => {
      const artifacts = damaged(fixture, mutations);
      let model: GraphModel;
      try {
        model = loadGraphModelSync(artifacts) as unknown as GraphModel;
      } catch {
        return;  // tfjs refuses the damaged model at load: nothing to transform
      }
      const inputs = fixture.inputs();
      const before = tf.memory().numTensors;
      const original = run(model, inputs, fixture.outputNames);
      const artifactsBefore = graphModelArtifacts(model);
      const transformed = BetterTransformer.transform(model, {keepOriginalModel: true});
      const report = BetterTransformer.report(transformed);
      expect(report).toBeDefined();
      if (transformed === model) {
        unchanged++;
        expect(graphModelArtifacts(model)).toBe(artifactsBefore);
        expect(report?.fused).toHaveLength(0);
      } else {
        rewritten++;
        const after = run(transformed, inputs, fixture.outputNames);
        // Rewritten: both run, and agree on real tokens.
        expect(original).not.toBeNull();
        expect(after).not.toBeNull();
        for (const name of fixture.outputNames) {
          const error = relativeErrorOnTokens((after as Record<string, tf.Tensor>)[name], (original as Record<string, tf.Tensor>)[name], validTokens);
          expect([name, error <= 1e-4]).toEqual([name, true]);
        }
        tf.dispose(Object.values(after ?? {}));
        transformed.dispose();
      }
      tf.dispose(Object.values(original ?? {}));
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(inputs));
      model.dispose();
    }), {numRuns: 40, seed: id === 'bert' ? 17 : 23});
    // The damage is varied enough that both outcomes occur.
    expect(rewritten).toBeGreaterThan(0);
    expect(unchanged).toBeGreaterThan(0);
  });
});
