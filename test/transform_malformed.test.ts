/**
 * Damaged or unusual graphs never give a silently wrong model: the pass
 * leaves the affected block unfused (with the reason) or fails with a clear
 * error. Each case edits the BERT fixture's artifacts.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../src';
import {GraphDef, NodeDef} from '../src/transform/graph/graph_def';
import {runGraphPass} from '../src/transform/graph_pass';
import {loadFixture} from './helpers/load_fixture';
import {outputsOf, relativeErrorOnTokens, validTokensOf} from './helpers/fixture_outputs';

const fixture = loadFixture('bert');
const validTokens = validTokensOf(fixture.reference);

function cloneArtifacts(): tf.io.ModelArtifacts {
  const a = fixture.artifacts;
  return {...a, modelTopology: JSON.parse(JSON.stringify(a.modelTopology)), weightData: (a.weightData as ArrayBuffer).slice(0)};
}

function nodes(artifacts: tf.io.ModelArtifacts): NodeDef[] {
  return (artifacts.modelTopology as GraphDef).node;
}

function findNode(artifacts: tf.io.ModelArtifacts, pred: (n: NodeDef) => boolean): NodeDef {
  const node = nodes(artifacts).find(pred);
  if (!node) throw new Error('test setup: node not found');
  return node;
}

/** Overwrites every element of a float32/int32 constant stored in the weights. */
function setConstant(artifacts: tf.io.ModelArtifacts, name: string, value: number): void {
  let offset = 0;
  for (const spec of artifacts.weightSpecs ?? []) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    if (spec.name === name) {
      const view = spec.dtype === 'int32' ? new Int32Array(artifacts.weightData as ArrayBuffer, offset, count) :
                                            new Float32Array(artifacts.weightData as ArrayBuffer, offset, count);
      view.fill(value);
      return;
    }
    offset += count * 4;
  }
  throw new Error(`test setup: no weight ${name}`);
}

function transformAndCompare(artifacts: tf.io.ModelArtifacts) {
  const original = loadGraphModelSync(artifacts) as unknown as GraphModel;
  const inputs = fixture.inputs();
  const before = outputsOf(original, inputs, fixture.outputNames);
  const transformed = BetterTransformer.transform(original, {keepOriginalModel: true});
  const report = BetterTransformer.report(transformed);
  const after = outputsOf(transformed, inputs, fixture.outputNames);
  const error = relativeErrorOnTokens(after[fixture.outputNames[0]], before[fixture.outputNames[0]], validTokens);
  tf.dispose([...Object.values(before), ...Object.values(after), ...Object.values(inputs)]);
  if (transformed !== original) transformed.dispose();
  original.dispose();
  return {report, error};
}

describe('the pass on damaged or altered graphs', () => {
  test('a GELU constant that is not GELU leaves that layer unfused; attention is still fused and outputs match', () => {
    const a = cloneArtifacts();
    const half = findNode(a, n => n.op === 'Const' && /layer_\._0\/intermediate\/Gelu\/mul\/x$/.test(n.name));
    setConstant(a, half.name, 0.45);
    const {report, error} = transformAndCompare(a);
    expect(report?.fused.map(b => b.kind).sort()).toEqual(['attention', 'encoderLayer']);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/GELU/);
    expect(error).toBeLessThan(1e-5);
  });

  test('heads × head size that does not match the width refuses the layer', () => {
    const a = cloneArtifacts();
    const reshape = findNode(a, n => n.op === 'Reshape' && /layer_\._1\/attention\/self\/Reshape_2$/.test(n.name));
    const pack = findNode(a, n => n.name === (reshape.input ?? [])[1]);
    setConstant(a, (pack.input ?? [])[2], 3);
    const model = loadGraphModelSync(a) as unknown as GraphModel;
    const transformed = BetterTransformer.transform(model);
    const report = BetterTransformer.report(transformed);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/heads|reshape/i);
    expect(report?.fused.filter(b => b.kind === 'encoderLayer')).toHaveLength(1);
    transformed.dispose();
  });

  // tfjs cannot load these graphs at all; the pass is run on the topology
  // with the intact model's weights, as `transform` would see them.
  function passOnDamaged(edit: (a: tf.io.ModelArtifacts) => void) {
    const a = cloneArtifacts();
    edit(a);
    const intact = fixture.loadGraphModel();
    const result = runGraphPass(a.modelTopology as GraphDef, name => intact.weights[name]?.[0]);
    result.newWeights?.dispose();
    intact.dispose();
    return result;
  }

  test('a LayerNorm with a node removed is not fused as a layer, and the pass does not throw', () => {
    let removed = '';
    const {report} = passOnDamaged(a => {
      const topology = a.modelTopology as GraphDef;
      const rsqrt = findNode(a, n => n.op === 'Rsqrt' && /layer_\._0\/output\/LayerNorm/.test(n.name));
      removed = rsqrt.name;
      topology.node = topology.node.filter(n => n !== rsqrt);
    });
    expect(report.fused.filter(b => b.kind === 'encoderLayer')).toHaveLength(1);
    expect(report.fused.some(b => b.nodes.includes(removed))).toBe(false);
  });

  test('a dangling input inside a block leaves that block unfused', () => {
    let biasName = '';
    const {report} = passOnDamaged(a => {
      const bias = findNode(a, n => n.op === 'BiasAdd' && /layer_\._0\/attention\/self\/query\/BiasAdd$/.test(n.name));
      biasName = bias.name;
      bias.input = [(bias.input ?? [])[0], 'no/such/node'];
    });
    expect(report.fused.filter(b => b.kind === 'encoderLayer')).toHaveLength(1);
    expect(report.fused.some(b => b.nodes.includes(biasName))).toBe(false);
  });

  test('a model without weight data in memory is left unchanged with a reason', () => {
    const model = fixture.loadGraphModel();
    (model as unknown as {artifacts: tf.io.ModelArtifacts}).artifacts = {...fixture.artifacts, weightData: undefined};
    const transformed = BetterTransformer.transform(model);
    expect(transformed).toBe(model);
    expect(BetterTransformer.report(model)?.skipped[0].reason).toMatch(/weight data/);
    model.dispose();
  });

  test('transforming twice is a no-op that keeps the first report', () => {
    const model = BetterTransformer.transform(fixture.loadGraphModel());
    const first = BetterTransformer.report(model);
    expect(BetterTransformer.transform(model)).toBe(model);
    expect(BetterTransformer.report(model)).toBe(first);
    model.dispose();
  });
});
