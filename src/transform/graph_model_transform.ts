/**
 * Transforming a loaded GraphModel: run the pass on its artifacts, then load
 * the rewritten graph either into the same object (the default: weights are
 * shared, nothing is copied) or into a new model (`keepOriginalModel`).
 * `reverseGraphModel` loads the original artifacts back (byte-identical
 * weights, since the original weight data is kept untouched).
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModelSync} from '@tensorflow/tfjs-converter';
import {ModelFileError, weightSpecsByteLength} from '../io/model_files';
import {GraphDef} from './graph/graph_def';
import {runGraphPass, GraphPassOptions} from './graph_pass';
import {registerGraphOps} from './graph_ops';
import {emptyReport, TransformReport} from './report';
import {checkAgainstProbe, disposeProbe, probeOriginal} from './verify/verify_rewrite';

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

/**
 * The original weights followed by the added constants. The added specs are
 * decoded from where the original specs' bytes end, so bytes a model's buffer
 * carries after its last weight (tfjs ignores them) are dropped.
 */
function joinWeightData(original: tf.io.WeightData | undefined, originalSpecs: tf.io.WeightsManifestEntry[],
    extra: ArrayBuffer): ArrayBuffer {
  const base = original === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(original);
  const used = weightSpecsByteLength(originalSpecs);
  if (used > base.byteLength) throw new ModelFileError(`the weight specs describe ${used} bytes but the model holds ${base.byteLength}`);
  const out = new Uint8Array(used + extra.byteLength);
  out.set(new Uint8Array(base, 0, used), 0);
  out.set(new Uint8Array(extra), used);
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
  const newWeights = pass.newWeights;
  // The original's outputs on probe inputs, to hold the rewritten graph to.
  const probed = probeOriginal(model, artifacts.modelTopology as GraphDef);
  const probe = 'probe' in probed ? probed.probe : null;
  try {
    // From here on a failure leaves the model as it was: nothing of it is
    // changed or disposed until the rewritten graph has loaded and agreed.
    const fail = (reason: string) => {
      newWeights.dispose();
      return leftUnchanged(model, failedReport(pass.report, reason));
    };
    if ('failed' in probed && probed.failed) return fail(probed.reason);
    let newArtifacts: tf.io.ModelArtifacts;
    try {
      newArtifacts = {
        ...artifacts,
        modelTopology: pass.graph,
        weightSpecs: [...artifacts.weightSpecs, ...newWeights.specs()],
        weightData: joinWeightData(artifacts.weightData, artifacts.weightSpecs, newWeights.bytes()),
      };
    } catch (e) {
      return fail(`the rewritten weights could not be assembled: ${(e as Error).message}`);
    }
    const report: TransformReport = {...pass.report, verification: {status: 'not run', reason: 'reason' in probed ? probed.reason : ''}};
    /** Holds the loaded rewrite to the probe; the reason it fails, or null. */
    const verify = (target: GraphModel): string | null => {
      if (!probe) return null;
      let outcome: ReturnType<typeof checkAgainstProbe>;
      try {
        outcome = checkAgainstProbe(target, probe);
      } catch (e) {
        return `the probe could not compare the outputs: ${(e as Error).message}`;
      }
      if ('reason' in outcome) return outcome.reason;
      report.verification = {status: 'agreed', maxRelativeDifference: outcome.difference};
      return null;
    };
    const state: TransformedState = {
      originalArtifacts: artifacts,
      addedWeightNames: newWeights.constants.map(c => c.node.name),
      report,
    };
    // Only the constants the new graph reads stay loaded: the executor copies its
    // whole weight map on every call (587 entries for MiniLM instead of 110 costs
    // about 0.2 ms a call). The rest are disposed once the new graph has loaded;
    // reverse decodes them again from the original weight data.
    const used = new Set(pass.graph.node.filter(n => n.op === 'Const').map(n => n.name));
    const keptOf = (owned: Record<string, tf.Tensor[]>) => {
      const kept: tf.NamedTensorMap = {};
      for (const [name, tensors] of Object.entries(owned)) if (used.has(name)) kept[name] = tensors[0];
      return kept;
    };
    const disposeUnused = (owned: Record<string, tf.Tensor[]>) => {
      for (const [name, tensors] of Object.entries(owned)) if (!used.has(name)) tensors.forEach(t => t.dispose());
    };
    if (options.keepOriginalModel) {
      let copy: GraphModel;
      try {
        copy = loadGraphModelSync(newArtifacts) as unknown as GraphModel;
      } catch (e) {
        return fail(`the rewritten graph does not load: ${(e as Error).message}`);
      }
      newWeights.dispose();
      const owned = {...copy.weights};
      internals(copy).loadWithWeightMap(newArtifacts, keptOf(owned));
      disposeUnused(owned);
      const problem = verify(copy);
      if (problem) {
        copy.dispose();
        return leftUnchanged(model, failedReport(pass.report, problem));
      }
      transformed.set(copy, state);
      return {model: copy, report};
    }
    const owned: Record<string, tf.Tensor[]> = {...weightMap};
    for (const {node, tensor} of newWeights.constants) owned[node.name] = [tensor];
    const restoreOriginal = () => {
      const original: tf.NamedTensorMap = {};
      for (const [name, tensors] of Object.entries(weightMap)) original[name] = tensors[0];
      internals(model).loadWithWeightMap(artifacts, original);
    };
    let problem: string | null;
    try {
      internals(model).loadWithWeightMap(newArtifacts, keptOf(owned));
      problem = verify(model);
    } catch (e) {
      problem = `the rewritten graph does not load: ${(e as Error).message}`;
    }
    if (problem) {
      // Put the original graph and weights back (none was disposed).
      restoreOriginal();
      return fail(problem);
    }
    disposeUnused(owned);
    unchanged.delete(model);
    transformed.set(model, state);
    return {model, report};
  } finally {
    if (probe) disposeProbe(probe);
  }
}

/** The report of a transform abandoned at the last step: nothing is fused, and the reason says why. */
function failedReport(report: TransformReport, reason: string): TransformReport {
  return {
    architecture: report.architecture, fused: [],
    skipped: [...report.skipped, {nodes: report.fused.flatMap(b => b.nodes), reason: `left as it was: ${reason}`}],
  };
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
