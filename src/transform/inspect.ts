/**
 * `inspect`: what the pass would fuse in a model.json, from its topology
 * alone (no weights: constant values are not checked, so `transform` may
 * still refuse a block whose constants differ from what the fused op computes).
 * Where telling what a block is needs constant values (GPT-2's in-graph causal
 * band, a mask's Tile multiples, a gated MLP's formula), the block is planned as
 * `transform` fuses it when the check passes and the check is listed in the
 * block's `unchecked`: never reported as refused for what could not be checked.
 * The CLI reads the weights when they are next to model.json and then reports
 * what `transform` does (src/cli/inspect_command.ts).
 */
import {GraphDef, graphDefProblem} from './graph/graph_def';
import {runGraphPass} from './graph_pass';
import {emptyReport, TransformReport} from './report';

interface LayerConfig {
  class_name?: string;
  className?: string;
  name?: string;
  config?: {name?: string; layers?: LayerConfig[]; attention_axes?: unknown};
}

/** Keras layers models: each MultiHeadAttention layer runs on the fused op (src/layers). */
function inspectLayersTopology(topology: {model_config?: LayerConfig} | LayerConfig): TransformReport {
  const report = emptyReport('Keras layers model');
  const visit = (layer: LayerConfig | undefined): void => {
    if (!layer) return;
    const cls = layer.class_name ?? layer.className;
    const name = layer.config?.name ?? layer.name ?? '?';
    if (cls === 'MultiHeadAttention') {
      const axes = layer.config?.attention_axes;
      if (axes !== null && axes !== undefined && !(Array.isArray(axes) && axes.length === 1)) {
        report.skipped.push({nodes: [name], reason: `attention_axes ${JSON.stringify(axes)} is not attention over the sequence axis`});
      } else {
        report.fused.push({kind: 'attention', layers: 1, nodes: [name]});
      }
    }
    for (const inner of layer.config?.layers ?? []) visit(inner);
  };
  const root = 'model_config' in topology ? topology.model_config : topology as LayerConfig;
  visit(root);
  if (report.fused.length === 0 && report.skipped.length === 0) report.architecture = null;
  return report;
}

export function inspectModelJson(modelJson: {format?: string; modelTopology?: unknown}): TransformReport {
  const topology = modelJson.modelTopology as Record<string, unknown> | undefined;
  if (!topology || typeof topology !== 'object') throw new Error('model.json has no modelTopology');
  if (Array.isArray((topology as {node?: unknown}).node)) {
    const problem = graphDefProblem(topology);
    if (problem) throw new Error(`model.json's graph cannot be read: ${problem}`);
    return runGraphPass(topology as unknown as GraphDef, undefined).report;
  }
  if ('model_config' in topology || 'class_name' in topology) return inspectLayersTopology(topology as LayerConfig);
  throw new Error('model.json is neither a graph model nor a layers model');
}
