/**
 * `inspect <model.json> [--json] [--no-weights]`: what the pass fuses in a
 * model and why anything is left alone. With the weight shards next to
 * model.json the report is the one `convert` gives (constant values checked);
 * without them it is planned from the topology, and a block whose checks need
 * the weights lists them as `unchecked` instead of being reported as refused.
 */
import type * as tf from '@tensorflow/tfjs-core';
import {loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {BetterTransformer} from '../transform/better_transformer';
import {inspectModelJson} from '../transform/inspect';
import {TransformReport} from '../transform/report';
import {ModelFileError, modelJsonPath, readModelArtifacts, readModelJson} from '../io/model_files';
import {prepareBackend} from './backend';
import {missingWeightFiles} from './weight_files';

export function formatReport(report: TransformReport): string {
  const lines = [`architecture: ${report.architecture ?? 'no transformer blocks found'}`];
  const fusedLayers = report.fused.reduce((n, b) => n + b.layers, 0);
  lines.push(`fused: ${report.fused.length} block(s) covering ${fusedLayers} layer(s)`);
  for (const block of report.fused) {
    lines.push(`  ${block.kind} (${block.layers} layer${block.layers === 1 ? '' : 's'}): ${block.nodes.length} nodes, from ${block.nodes[0] ?? '?'}`);
    for (const check of block.unchecked ?? []) lines.push(`    only if ${check}`);
  }
  lines.push(`left alone: ${report.skipped.length}`);
  for (const s of report.skipped) lines.push(`  ${s.nodes[0] ?? '(model)'}: ${s.reason}`);
  return lines.join('\n');
}

/** The report `convert` gives (the same transform), in inspect's contract: architecture, fused, skipped. */
async function reportWithWeights(file: string): Promise<TransformReport> {
  await prepareBackend();
  let artifacts: tf.io.ModelArtifacts;
  try {
    artifacts = readModelArtifacts(file);
  } catch (e) {
    if (!(e instanceof ModelFileError)) throw e;
    throw new Error(`${e.message} (inspect --no-weights plans from model.json alone)`);
  }
  const graph = loadGraphModelSync(artifacts) as unknown as GraphModel;
  try {
    const transformed = BetterTransformer.transform(graph);
    const report = BetterTransformer.report(transformed);
    if (!report) throw new Error('the transform gave no report');
    return {architecture: report.architecture, fused: report.fused, skipped: report.skipped};
  } finally {
    graph.dispose();
  }
}

export async function inspectCommand(model: string, opts: {json?: boolean; weights?: boolean}): Promise<void> {
  const file = modelJsonPath(model);
  const json = readModelJson(file);
  const isGraph = Array.isArray((json.modelTopology as {node?: unknown} | undefined)?.node);
  const missing = missingWeightFiles(file, json);
  const useWeights = isGraph && opts.weights !== false && missing.length === 0;
  let report: TransformReport;
  if (useWeights) {
    report = await reportWithWeights(file);
  } else {
    // The plan evaluates a few small subgraphs (shape arithmetic): the cpu backend does, without loading tfjs-node.
    await prepareBackend('cpu');
    report = inspectModelJson(json as {format?: string; modelTopology?: unknown});
  }
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    return;
  }
  let weights = '';
  if (useWeights) {
    weights = 'weights: read, constant values checked (the report convert gives)\n';
  } else if (isGraph) {
    const why = opts.weights === false ? '--no-weights' : `${missing.slice(0, 2).join(', ')}${missing.length > 2 ? ', ...' : ''} not found`;
    weights = `weights: not read (${why}): planned from the topology; constant values are checked by convert\n`;
  }
  process.stdout.write(`${weights}${formatReport(report)}\n`);
}
