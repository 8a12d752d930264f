/**
 * The last check `transform` makes before it commits to a rewritten graph: the
 * original and the rewritten model run on the same small probe (two sequences
 * of random token ids, one of them padded; normal values for float inputs) and
 * must agree on real tokens. It catches what matching by structure cannot
 * see: constants inside a replaced block that do not compute what the fused op
 * computes (a graph tfjs would refuse to run must not run after the rewrite),
 * and nodes left outside the fused blocks that read the padded rows the fused
 * layers no longer compute.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {GraphDef, NodeDef, parseInputRef} from '../graph/graph_def';
import {maxRelativeDifference} from './output_difference';
import {randomInputs} from './probe_inputs';

/** Largest relative difference on real tokens accepted between the original's and the rewritten graph's outputs. */
export const PROBE_TOLERANCE = 1e-3;
const PROBE_BATCH = 2;
const PROBE_SEQ = 7;
const PROBE_PADDING = 0.3;

export interface Probe {
  inputs: tf.NamedTensorMap;
  validTokens: number[][] | null;
  outputNames: string[];
  /** The original model's outputs on `inputs`. */
  expected: tf.Tensor[];
}

/**
 * For each model input, the rows of the smallest constant table a GatherV2
 * looks it up in (through Cast and Identity nodes): its ids must stay below.
 * And the rows of the smallest table looked up at computed indices (position
 * embeddings): the probe's sequences must not be longer.
 */
function lookupLimits(graph: GraphDef, weights: tf.NamedTensorMap): {ids: Record<string, number>; positions: number} {
  const byName = new Map(graph.node.map(n => [n.name, n]));
  const source = (ref: string | undefined): NodeDef | undefined => {
    let node = byName.get(parseInputRef(ref ?? '').node);
    for (let hops = 0; node && ['Cast', 'Identity', 'StopGradient'].includes(node.op) && hops < 16; hops++) {
      node = byName.get(parseInputRef(node.input?.[0] ?? '').node);
    }
    return node;
  };
  const ids: Record<string, number> = {};
  let positions = Infinity;
  for (const node of graph.node) {
    if (node.op !== 'GatherV2' && node.op !== 'ResourceGather') continue;
    const table = source(node.input?.[0]), indices = source(node.input?.[1]);
    const values = table && weights[table.name];
    if (!values || values.rank < 1) continue;
    if (indices?.op === 'Placeholder') ids[indices.name] = Math.min(ids[indices.name] ?? Infinity, values.shape[0]);
    else positions = Math.min(positions, values.shape[0]);  // computed indices: positions, most likely
  }
  return {ids, positions};
}

function execute(model: GraphModel, inputs: tf.NamedTensorMap, outputNames: string[]): tf.Tensor[] {
  const out = model.execute(inputs, outputNames);
  return Array.isArray(out) ? out : [out];
}

/**
 * Runs the original model on probe inputs. `reason` says why there is no
 * probe: the model cannot be probed synchronously (it needs executeAsync, or
 * an input has dimensions other than batch and sequence unknown) — then the
 * rewrite goes unverified; or `failed`: the original graph does not run, and
 * nothing may be rewritten.
 */
export function probeOriginal(model: GraphModel, graph: GraphDef):
    {probe: Probe} | {reason: string; failed: boolean} {
  const weights: tf.NamedTensorMap = {};
  for (const [name, tensors] of Object.entries(model.weights)) weights[name] = tensors[0];
  let inputs: tf.NamedTensorMap;
  let validTokens: number[][] | null;
  try {
    const limits = lookupLimits(graph, weights);
    ({inputs, validTokens} = randomInputs(model.inputs.map(i => ({name: i.name, shape: i.shape, dtype: i.dtype})),
        PROBE_BATCH, Math.max(1, Math.min(PROBE_SEQ, limits.positions)), PROBE_PADDING, 7, limits.ids));
  } catch (e) {
    return {reason: `no probe inputs: ${(e as Error).message}`, failed: false};
  }
  const outputNames = model.outputs.map(o => o.name);
  try {
    return {probe: {inputs, validTokens, outputNames, expected: execute(model, inputs, outputNames)}};
  } catch (e) {
    tf.dispose(Object.values(inputs));
    const message = (e as Error).message;
    const asyncOnly = /executeAsync|dynamic op/i.test(message);
    return {reason: asyncOnly ? 'the model needs executeAsync, which transform cannot wait for' :
                                `the original graph does not run on probe inputs: ${message.split('\n')[0]}`,
            failed: !asyncOnly};
  }
}

/** The rewritten model's largest relative difference from the probe, or why it is not acceptable. */
export function checkAgainstProbe(model: GraphModel, probe: Probe): {difference: number} | {reason: string} {
  let got: tf.Tensor[];
  try {
    got = execute(model, probe.inputs, probe.outputNames);
  } catch (e) {
    return {reason: `the rewritten graph does not run on probe inputs: ${(e as Error).message.split('\n')[0]}`};
  }
  try {
    let worst = 0;
    for (let i = 0; i < probe.expected.length; i++) {
      if (!(got[i] instanceof tf.Tensor)) return {reason: `the rewritten graph gives no output '${probe.outputNames[i]}'`};
      const difference = maxRelativeDifference(probe.expected[i], got[i], probe.validTokens);
      if (!(difference <= PROBE_TOLERANCE)) {
        return {reason: `on probe inputs the rewritten graph's output '${probe.outputNames[i]}' differs from the ` +
                        `original's by ${difference.toExponential(2)} (relative, on real tokens; at most ${PROBE_TOLERANCE})`};
      }
      worst = Math.max(worst, difference);
    }
    return {difference: worst};
  } finally {
    tf.dispose(got);
  }
}

export function disposeProbe(probe: Probe): void {
  tf.dispose([...Object.values(probe.inputs), ...probe.expected]);
}
