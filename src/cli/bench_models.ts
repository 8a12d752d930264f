/**
 * The two models `bench` compares, loaded from a model directory: the
 * original and a transformed copy (graph models: the fused graph; layers
 * models: MultiHeadAttention layers on the fused op), with what `bench` needs
 * to feed and run them the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import {loadGraphModelSync} from '@tensorflow/tfjs-converter';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {BetterTransformer} from '../transform/better_transformer';
import type {TransformReport} from '../transform/report';
import type {InputSpec} from '../transform/verify/probe_inputs';
import {loadLayersModelFromDirectory} from '../io/directory_loader';
import {readModelArtifacts, readModelJson} from '../io/model_files';
import {graphPositionLimit, layersPositionLimit, PositionLimit} from './position_limit';

export interface BenchModels {
  kind: 'graph model' | 'layers model';
  inputs: InputSpec[];
  report: TransformReport;
  /** The longest sequence the model takes, when it has learned positions. */
  positionLimit: PositionLimit | null;
  run(which: 'original' | 'transformed', inputs: tf.NamedTensorMap): Promise<tf.Tensor[]>;
  dispose(): void;
}

function nothingToFuse(report: TransformReport | undefined): Error {
  return new Error(`nothing to fuse: ${report?.skipped[0]?.reason ?? 'no attention blocks found'}`);
}

/** execute() where the graph allows it; executeAsync() for graphs with control flow or dynamic shapes. */
async function runGraph(model: GraphModel, inputs: tf.NamedTensorMap): Promise<tf.Tensor[]> {
  let out: tf.Tensor | tf.Tensor[];
  try {
    out = model.execute(inputs);
  } catch (e) {
    if (!/executeAsync/.test((e as Error).message)) throw e;
    out = await model.executeAsync(inputs);
  }
  return Array.isArray(out) ? out : [out];
}

function graphModels(location: string): BenchModels {
  const original = loadGraphModelSync(readModelArtifacts(location)) as unknown as GraphModel;
  try {
    const positionLimit = graphPositionLimit(original);
    const transformed = BetterTransformer.transform(original, {keepOriginalModel: true});
    const report = BetterTransformer.report(transformed);
    if (transformed === original || !report) throw nothingToFuse(report);
    return {
      kind: 'graph model', inputs: original.inputs, report, positionLimit,
      run: (which, inputs) => runGraph(which === 'original' ? original : transformed, inputs),
      dispose: () => {
        original.dispose();
        transformed.dispose();
      },
    };
  } catch (e) {
    original.dispose();
    throw e;
  }
}

async function layersModels(location: string): Promise<BenchModels> {
  const original = await loadLayersModelFromDirectory(location);
  try {
    const transformed = BetterTransformer.transform(original, {keepOriginalModel: true});
    const report = BetterTransformer.report(transformed);
    if (!report || report.fused.length === 0) {
      if (transformed !== original) transformed.dispose();
      throw nothingToFuse(report);
    }
    // Layers' symbolic shapes use null for a free dimension; the input builder takes -1.
    const inputs: InputSpec[] = original.inputs.map((t, i) => ({
      name: original.inputNames[i], shape: t.shape.map(d => d ?? -1), dtype: t.dtype,
    }));
    const run = async (model: LayersModel, feed: tf.NamedTensorMap) => {
      const out = model.predict(original.inputNames.map(name => feed[name]));
      return Array.isArray(out) ? out : [out];
    };
    return {
      kind: 'layers model', inputs, report, positionLimit: layersPositionLimit(original),
      run: (which, feed) => run(which === 'original' ? original : transformed, feed),
      dispose: () => {
        original.dispose();
        transformed.dispose();
      },
    };
  } catch (e) {
    original.dispose();
    throw e;
  }
}

export async function loadBenchModels(location: string): Promise<BenchModels> {
  const json = readModelJson(location);
  return Array.isArray((json.modelTopology as {node?: unknown} | undefined)?.node) ? graphModels(location) : layersModels(location);
}
