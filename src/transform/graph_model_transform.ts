/**
 * Transforming a loaded GraphModel: run the pass on its artifacts, then load
 * the rewritten graph either into the same object (the default: weights are
 * shared, nothing is copied) or into a new model (`keepOriginalModel`).
 * `reverseGraphModel` loads the original artifacts back (byte-identical
 * weights, since the original weight data is kept untouched).
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {GraphDef} from './graph/graph_def';
import {runGraphPass, GraphPassOptions} from './graph_pass';
import {registerGraphOps} from './graph_ops';
import {emptyReport, TransformReport} from './report';

interface TransformedState {
  originalArtifacts: tf.io.ModelArtifacts;
  addedWeightNames: string[];
  report: TransformReport;
}

const transformed = new WeakMap<GraphModel, TransformedState>();
/** Reports of models the pass looked at and left unchanged. */
const unchanged = new WeakMap<GraphModel, TransformReport>();

function leftUnchanged(model: GraphModel, report: TransformReport): {model: GraphModel; report: TransformReport} {
  unchanged.set(model, report);
  return {model, report};
}

/** The private fields of GraphModel this module relies on (present in tfjs-converter 4.x). */
interface GraphModelInternals {
  artifacts?: tf.io.ModelArtifacts;
  loadWithWeightMap(artifacts: tf.io.ModelArtifacts, weightMap: tf.NamedTensorMap): boolean;
}

function internals(model: GraphModel): GraphModelInternals {
  return model as unknown as GraphModelInternals;
}

export function graphModelArtifacts(model: GraphModel): tf.io.ModelArtifacts | undefined {
  return internals(model).artifacts;
}

function joinWeightData(original: tf.io.WeightData | undefined, extra: ArrayBuffer): ArrayBuffer {
  const base = original === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(original);
  const out = new Uint8Array(base.byteLength + extra.byteLength);
  out.set(new Uint8Array(base), 0);
  out.set(new Uint8Array(extra), base.byteLength);
  return out.buffer;
}

export interface GraphTransformOptions extends GraphPassOptions {
  keepOriginalModel?: boolean;
}

export function transformGraphModel(model: GraphModel, options: GraphTransformOptions = {}):
    {model: GraphModel; report: TransformReport} {
  registerGraphOps();
  if (transformed.has(model)) {
    const report = emptyReport();
    report.skipped.push({nodes: [], reason: 'the model is transformed already'});
    return {model, report: transformed.get(model)?.report ?? report};
  }
  const artifacts = graphModelArtifacts(model);
  if (!artifacts?.modelTopology || artifacts.weightSpecs === undefined || artifacts.weightData === undefined) {
    const report = emptyReport();
    report.skipped.push({nodes: [], reason: 'the model keeps no topology or weight data in memory (loaded with streamed weights?)'});
    return leftUnchanged(model, report);
  }
  const weightMap = model.weights;
  const quantizedWeights = artifacts.weightSpecs.some(spec => spec.quantization !== undefined);
  const pass = runGraphPass(artifacts.modelTopology as GraphDef, name => weightMap[name]?.[0], {...options, quantizedWeights});
  if (!pass.graph || !pass.newWeights) return leftUnchanged(model, pass.report);

  const newArtifacts: tf.io.ModelArtifacts = {
    ...artifacts,
    modelTopology: pass.graph,
    weightSpecs: [...artifacts.weightSpecs, ...pass.newWeights.specs()],
    weightData: joinWeightData(artifacts.weightData, pass.newWeights.bytes()),
  };
  const state: TransformedState = {
    originalArtifacts: artifacts,
    addedWeightNames: pass.newWeights.constants.map(c => c.node.name),
    report: pass.report,
  };
  // Only the constants the new graph reads stay loaded: the executor copies its
  // whole weight map on every call (587 entries for MiniLM instead of 110 costs
  // about 0.2 ms a call). The rest are disposed; reverse decodes them again
  // from the original weight data.
  const used = new Set(pass.graph.node.filter(n => n.op === 'Const').map(n => n.name));
  const loadUsed = (target: GraphModel, owned: Record<string, tf.Tensor[]>) => {
    const kept: tf.NamedTensorMap = {};
    for (const [name, tensors] of Object.entries(owned)) {
      if (used.has(name)) kept[name] = tensors[0];
      else tensors.forEach(t => t.dispose());
    }
    internals(target).loadWithWeightMap(newArtifacts, kept);
  };
  if (options.keepOriginalModel) {
    pass.newWeights.dispose();
    const copy = loadGraphModelSync(newArtifacts) as unknown as GraphModel;
    loadUsed(copy, {...copy.weights});
    transformed.set(copy, state);
    return {model: copy, report: pass.report};
  }
  const owned: Record<string, tf.Tensor[]> = {...weightMap};
  for (const {node, tensor} of pass.newWeights.constants) owned[node.name] = [tensor];
  loadUsed(model, owned);
  unchanged.delete(model);
  transformed.set(model, state);
  return {model, report: pass.report};
}

export function reverseGraphModel(model: GraphModel): GraphModel {
  const state = transformed.get(model);
  if (!state) return model;
  const weightMap = model.weights;
  const original: tf.NamedTensorMap = {};
  const added = new Set(state.addedWeightNames);
  for (const [name, tensors] of Object.entries(weightMap)) {
    if (added.has(name)) tensors.forEach(t => t.dispose());
    else original[name] = tensors[0];
  }
  // The constants transform disposed (unused by the new graph), from the original bytes.
  const specs = state.originalArtifacts.weightSpecs ?? [];
  if (specs.some(spec => !(spec.name in original))) {
    const decoded = tf.io.decodeWeights(state.originalArtifacts.weightData as tf.io.WeightData, specs);
    for (const [name, tensor] of Object.entries(decoded)) {
      if (name in original) tensor.dispose();
      else original[name] = tensor;
    }
  }
  internals(model).loadWithWeightMap(state.originalArtifacts, original);
  transformed.delete(model);
  return model;
}

export function graphModelReport(model: GraphModel): TransformReport | undefined {
  return transformed.get(model)?.report ?? unchanged.get(model);
}

export function isTransformedGraphModel(model: GraphModel): boolean {
  return transformed.has(model);
}
