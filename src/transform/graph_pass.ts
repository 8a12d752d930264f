/**
 * The rewriting pass over a GraphDef: finds every attention core (by
 * structure, around each Softmax), tries to grow it into a whole encoder
 * layer, and rewrites what matched. Without weights (`inspect`) it only
 * matches; with weights it also checks constant values and builds the graph.
 */
import {ConstantValues, WeightLookup} from './graph/constant_values';
import {GraphDef, NodeDef} from './graph/graph_def';
import {GraphRewrite} from './graph/graph_rewrite';
import {GraphView} from './graph/graph_view';
import {NewWeights} from './graph/new_weights';
import {AttentionCore, matchAttentionCore} from './match/attention_core';
import {matchEncoderLayer, EncoderLayerMatch} from './match/encoder_layer';
import {rewriteAttentionCore} from './rewrite/attention_rewrite';
import {rewriteEncoderLayer} from './rewrite/encoder_rewrite';
import {NodeFactory} from './rewrite/node_builders';
import {identifyArchitecture} from './architectures';
import {emptyReport, FusedBlock, TransformReport} from './report';
import {groupEncoderStacks} from './rewrite/stack_rewrite';
import {fuseStandaloneLayerNorms} from './rewrite/layer_norm_rewrite';

export interface GraphPassOptions {
  /** Fuse whole encoder layers where they match (default true); false keeps attention-level fusion only. */
  fuseEncoderLayers?: boolean;
  /** The weights were stored quantised: formula constants carry quantisation error. */
  quantizedWeights?: boolean;
  /** Run consecutive fused layers as one encoder stack (default true). */
  fuseEncoderStacks?: boolean;
  /** Replace LayerNorms outside the fused layers (embeddings, final norms) by one op each (default true). */
  fuseLayerNorms?: boolean;
}

export interface GraphPassResult {
  report: TransformReport;
  /** Present when weights were given and something was fused. */
  graph?: GraphDef;
  newWeights?: NewWeights;
}

type Candidate = {core: AttentionCore; layer: EncoderLayerMatch | null; layerRefusal: string | null};

function overlaps(a: Set<string>, nodes: NodeDef[]): boolean {
  return nodes.some(n => a.has(n.name));
}

export function runGraphPass(graph: GraphDef, lookup: WeightLookup | undefined, options: GraphPassOptions = {}): GraphPassResult {
  const view = new GraphView(graph);
  const consts = new ConstantValues(view, lookup, options.quantizedWeights ?? false);
  const report = emptyReport();
  const candidates: Candidate[] = [];
  for (const node of graph.node) {
    if (node.op !== 'Softmax') continue;
    const core = matchAttentionCore(view, consts, node);
    if (!core.ok) {
      report.skipped.push({nodes: [node.name], reason: core.reason});
      continue;
    }
    let layer: EncoderLayerMatch | null = null;
    let layerRefusal: string | null = null;
    if (options.fuseEncoderLayers !== false) {
      const m = matchEncoderLayer(view, consts, core.value);
      if (m.ok) layer = m.value;
      else layerRefusal = m.reason;
    }
    candidates.push({core: core.value, layer, layerRefusal});
  }
  report.architecture = identifyArchitecture(candidates.map(c => c.layer), candidates.length);
  if (!lookup) {
    for (const c of candidates) recordPlanned(report, c);
    if (options.fuseEncoderStacks !== false) report.fused = plannedStacks(view, candidates, report.fused);
    return {report};
  }

  const rewrite = new GraphRewrite(graph);
  const newWeights = new NewWeights();
  const claimed = new Set<string>();
  const fusedNodes = new Map<FusedBlock, string>();
  candidates.forEach((c, i) => {
    const nodes = new NodeFactory(rewrite, newWeights, `BetterTransformer/block${i}`);
    if (c.layer && !overlaps(claimed, c.layer.interior)) {
      const done = rewriteEncoderLayer(c.layer, consts, nodes);
      if (done.ok) {
        c.layer.interior.forEach(n => claimed.add(n.name));
        const block: FusedBlock = {kind: 'encoderLayer', layers: 1, nodes: c.layer.interior.map(n => n.name)};
        report.fused.push(block);
        fusedNodes.set(block, done.value.node);
        return;
      }
      c.layerRefusal = done.reason;
    }
    if (overlaps(claimed, c.core.interior)) {
      report.skipped.push({nodes: [c.core.softmax.name], reason: 'overlaps a block fused already'});
      return;
    }
    const done = rewriteAttentionCore(c.core, consts, nodes);
    if (!done.ok) {
      report.skipped.push({nodes: c.core.interior.map(n => n.name), reason: done.reason});
      return;
    }
    c.core.interior.forEach(n => claimed.add(n.name));
    report.fused.push({kind: 'attention', layers: 1, nodes: c.core.interior.map(n => n.name)});
    if (c.layerRefusal) report.skipped.push({nodes: [c.core.softmax.name], reason: `encoder layer not fused: ${c.layerRefusal}`});
  });
  if (report.fused.length === 0) {
    newWeights.dispose();
    return {report};
  }
  if (options.fuseLayerNorms !== false) fuseStandaloneLayerNorms(view, consts, rewrite, newWeights, claimed);
  let graphOut = rewrite.apply();
  if (options.fuseEncoderStacks !== false) {
    const grouped = groupEncoderStacks(graphOut, report.fused, fusedNodes);
    graphOut = grouped.graph;
    report.fused = grouped.fused;
  }
  return {report, graph: graphOut, newWeights};
}

function recordPlanned(report: TransformReport, c: Candidate): void {
  if (c.layer) {
    report.fused.push({kind: 'encoderLayer', layers: 1, nodes: c.layer.interior.map(n => n.name)});
    return;
  }
  report.fused.push({kind: 'attention', layers: 1, nodes: c.core.interior.map(n => n.name)});
  if (c.layerRefusal) report.skipped.push({nodes: [c.core.softmax.name], reason: `encoder layer not fused: ${c.layerRefusal}`});
}

/**
 * Without weights, the stacks `transform` would form: runs of matched layers
 * where each layer reads the previous one's output and they share the
 * padding mask input and structure.
 */
function plannedStacks(view: GraphView, candidates: Candidate[], fused: FusedBlock[]): FusedBlock[] {
  const key = (ref: {node: string; output: number}) => { const r = view.resolve({...ref, control: false}).ref; return `${r.node}:${r.output}`; };
  const out: FusedBlock[] = [];
  let run: Candidate[] = [];
  const flush = () => {
    if (run.length >= 2) out.push({kind: 'encoderStack', layers: run.length, nodes: run.flatMap(c => c.layer?.interior.map(n => n.name) ?? [])});
    else if (run.length === 1) out.push({kind: 'encoderLayer', layers: 1, nodes: run[0].layer?.interior.map(n => n.name) ?? []});
    run = [];
  };
  for (const c of candidates) {
    if (!c.layer) {
      flush();
      continue;
    }
    const prev = run[run.length - 1]?.layer;
    const chained = prev && key(c.layer.input) === key(prev.output) && prev.normFirst === c.layer.normFirst &&
        prev.activation === c.layer.activation && prev.padding?.input.node === c.layer.padding?.input.node;
    if (!chained) flush();
    run.push(c);
  }
  flush();
  return [...fused.filter(b => b.kind === 'attention'), ...out];
}
