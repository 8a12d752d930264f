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
import {graphModelArtifacts} from '../src/transform/graph_model_transform';
import {inspectModelJson} from '../src/transform/inspect';
import {layerNormsPass} from '../src/transform/passes/layer_norms';
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

  test('heads × head size that does not match the width: the graph does not run, so nothing is rewritten', () => {
    const a = cloneArtifacts();
    const reshape = findNode(a, n => n.op === 'Reshape' && /layer_\._1\/attention\/self\/Reshape_2$/.test(n.name));
    const pack = findNode(a, n => n.name === (reshape.input ?? [])[1]);
    setConstant(a, (pack.input ?? [])[2], 3);
    const model = loadGraphModelSync(a) as unknown as GraphModel;
    const artifactsBefore = graphModelArtifacts(model);
    const transformed = BetterTransformer.transform(model);
    const report = BetterTransformer.report(transformed);
    // The matcher refuses the broken layer; the probe then finds the original does not run at all.
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/heads|reshape/i);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/original graph does not run/);
    expect(report?.fused).toHaveLength(0);
    expect(graphModelArtifacts(transformed)).toBe(artifactsBefore);
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

  test('a head count in q\'s reshape that k\'s does not share: tfjs refuses the graph, so the rewrite may not repair it', () => {
    // Twice the heads, half the head size, on q only: the block is matched by structure, and the fused op
    // would run it; the original cannot run (q and k no longer split into the same heads).
    const a = cloneArtifacts();
    const reshape = findNode(a, n => n.op === 'Reshape' && /layer_\._0\/attention\/self\/Reshape$/.test(n.name));
    const pack = findNode(a, n => n.name === (reshape.input ?? [])[1]);
    const {heads, hidden} = fixture.meta;
    setConstant(a, (pack.input ?? [])[2], 2 * heads);
    setConstant(a, (pack.input ?? [])[3], hidden / (2 * heads));
    const model = loadGraphModelSync(a) as unknown as GraphModel;
    const inputs = fixture.inputs();
    expect(() => model.execute(inputs, fixture.outputNames)).toThrow();
    const transformed = BetterTransformer.transform(model);
    expect(transformed).toBe(model);
    expect(BetterTransformer.report(model)?.fused).toHaveLength(0);
    expect(BetterTransformer.report(model)?.skipped.map(s => s.reason).join('\n')).toMatch(/original graph does not run/);
    expect(() => model.execute(inputs, fixture.outputNames)).toThrow();
    tf.dispose(Object.values(inputs));
    model.dispose();
  });

  test('a LayerNorm epsilon of +Infinity refuses that block, with the reason, and the model still runs', () => {
    const a = cloneArtifacts();
    const add = findNode(a, n => /layer_\._1\/output\/LayerNorm\/batchnorm\/add$/.test(n.name));
    const eps = (add.input ?? []).find(ref => findNode(a, n => n.name === ref).op === 'Const') as string;
    setConstant(a, eps, Infinity);
    const {report, error} = transformAndCompare(a);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/epsilon Infinity is not a finite/);
    expect(report?.fused.some(b => b.nodes.includes(add.name))).toBe(false);
    expect(error).toBeLessThan(1e-5);
  });

  test('a node outside a block reading inside it leaves that block unfused, with the reason', () => {
    const a = cloneArtifacts();
    const scale = findNode(a, n => /layer_\._0\/attention\/self\/truediv$/.test(n.name));
    (a.modelTopology as GraphDef).node.push({name: 'reads_inside_the_block', op: 'Identity', input: [scale.name],
      attr: {T: {type: 'DT_FLOAT'}}});
    const {report, error} = transformAndCompare(a);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/is also read by 'reads_inside_the_block'/);
    expect(report?.fused.some(b => b.nodes.includes(scale.name))).toBe(false);
    expect(error).toBeLessThan(1e-5);
  });

  test('a pass that fails midway: the model comes back unchanged, with the reason, leaking nothing', () => {
    // The passes before it have added constants; all of them are released.
    const failing = jest.spyOn(layerNormsPass, 'run').mockImplementation(() => {
      throw new Error('graph rewrite: a node was removed but is still read by a kept node');
    });
    try {
      const model = fixture.loadGraphModel();
      const artifactsBefore = graphModelArtifacts(model);
      const before = tf.memory().numTensors;
      const transformed = BetterTransformer.transform(model);
      expect(transformed).toBe(model);
      expect(graphModelArtifacts(model)).toBe(artifactsBefore);
      expect(tf.memory().numTensors).toBe(before);
      const report = BetterTransformer.report(model);
      expect(report?.fused).toHaveLength(0);
      expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/could not be rewritten: graph rewrite: a node was removed/);
      const inputs = fixture.inputs();
      tf.dispose(Object.values(outputsOf(model, inputs, fixture.outputNames)));
      tf.dispose(Object.values(inputs));
      model.dispose();
    } finally {
      failing.mockRestore();
    }
  });

  test('a layer left unfused that reads padded rows keeps the layer before it computing them', () => {
    // Layer 1's scores no longer get the padding mask: its attention reads padded tokens, so layer 0 must not
    // zero their rows (fused as attention only), and the outputs on real tokens stay the original's.
    const a = cloneArtifacts();
    const maskAdd = findNode(a, n => n.op === 'AddV2' && /layer_\._1\/attention\/self\/Add$/.test(n.name));
    maskAdd.input = [(maskAdd.input ?? [])[0], (maskAdd.input ?? [])[0]];
    const {report, error} = transformAndCompare(a);
    expect(error).toBeLessThan(1e-5);
    expect(report?.skipped.map(s => s.reason).join('\n')).toMatch(/padded rows of its output would reach/);
    expect(report?.fused.some(b => b.kind !== 'attention')).toBe(false);
  });

  test('weight data with bytes after the last weight: keepOriginalModel still reads the added weights right', () => {
    const a = cloneArtifacts();
    const data = new Uint8Array((a.weightData as ArrayBuffer).byteLength + 13);
    data.set(new Uint8Array(a.weightData as ArrayBuffer));
    data.fill(0x7f, data.length - 13);
    const {report, error} = transformAndCompare({...a, weightData: data.buffer});
    expect(report?.fused.length).toBeGreaterThan(0);
    expect(error).toBeLessThan(1e-5);
  });

  test('inspect on a graph with a null node or inputs that are not a list says so', () => {
    const topology = JSON.parse(JSON.stringify(fixture.artifacts.modelTopology)) as GraphDef;
    const withNull = {...topology, node: [...topology.node, null as unknown as NodeDef]};
    expect(() => inspectModelJson({modelTopology: withNull})).toThrow(/node \d+ is not an object with a string name and op/);
    const badInput = {...topology, node: topology.node.map((n, i) => (i === 3 ? {...n, input: 'x' as unknown as string[]} : n))};
    expect(() => inspectModelJson({modelTopology: badInput})).toThrow(/inputs that are not a list of strings/);
  });
});
