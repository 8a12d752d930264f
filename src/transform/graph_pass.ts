/**
 * The rewriting pass over a GraphDef: finds every attention core (by
 * structure, around each Softmax), tries to grow it into a whole encoder
 * layer, and rewrites what matched. Without weights (`inspect`) it only
 * matches; with weights it also checks constant values and builds the graph.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues, WeightLookup} from './graph/constant_values';
import {GraphDef, InputRef, NodeDef} from './graph/graph_def';
import {GraphRewrite} from './graph/graph_rewrite';
import {GraphView} from './graph/graph_view';
import {NewWeights} from './graph/new_weights';
import {AttentionCore, matchAttentionCore} from './match/attention_core';
import {matchEncoderLayer, EncoderLayerMatch} from './match/encoder_layer';
import {rewriteAttentionCore} from './rewrite/attention_rewrite';
import {rewriteEncoderLayer} from './rewrite/encoder_rewrite';
import {boolAttr, floatAttr, intAttr, NodeFactory} from './rewrite/node_builders';
import {identifyArchitecture} from './architectures';
import {emptyReport, FusedBlock, TransformReport} from './report';
import {matchLayerNorm} from './match/layer_norm';
import {GRAPH_EMBEDDINGS_OP, GRAPH_LAYER_NORM_OP} from './graph_ops';
import {EmbeddingSumMatch, matchEmbeddingSum} from './match/embedding_sum';
import {groupEncoderStacks} from './rewrite/stack_rewrite';

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

/**
 * LayerNorms left outside the fused blocks (the embeddings' LayerNorm, a final
 * norm) become one BetterTransformerLayerNorm each, when every node of the
 * decomposition serves only that LayerNorm; a LayerNorm of a sum of
 * embedding-table lookups becomes one BetterTransformerEmbeddings (lookups,
 * sum and norm in one op). Not listed in the report: it is the same
 * computation in fewer ops.
 */
/** The embedding sum computing `input`, when it exists and only the LayerNorm (`readers`) reads it. */
function embeddingSumFeeding(view: GraphView, consts: ConstantValues, input: InputRef, readers: Set<string>,
    claimed: Set<string>): EmbeddingSumMatch | null {
  const sum = matchEmbeddingSum(view, consts, input);
  if (!sum.ok || sum.value.nodes.some(n => claimed.has(n.name))) return null;
  const root = view.resolve(input).ref.node;
  return view.realConsumers(root).every(c => readers.has(c.node.name)) ? sum.value : null;
}

/**
 * Shape(lookup) = concat(Shape(indices), [width]): the Shape nodes that read
 * a removed lookup get that instead; returns them for removal.
 */
function replaceLookupShapes(nodes: NodeFactory, sum: EmbeddingSumMatch): NodeDef[] {
  return sum.shapeReaders.map(({node, indices}, i) => {
    const outType = node.attr?.['out_type'] ?? {type: 'DT_INT32'};
    const indicesShape = nodes.op(`lookup_shape${i}/indices`, 'Shape', [indices], {out_type: outType});
    const width = nodes.constant(`lookup_shape${i}/width`, tf.tensor1d([sum.width], 'int32'));
    const axis = nodes.constant(`lookup_shape${i}/axis`, tf.scalar(0, 'int32'));
    const shape = nodes.op(`lookup_shape${i}`, 'ConcatV2', [indicesShape, width, axis],
        {N: intAttr(2), T: outType, Tidx: {type: 'DT_INT32'}});
    nodes.rewrite.redirect({node: node.name, output: 0, control: false}, shape);
    return node;
  });
}

function fuseStandaloneLayerNorms(view: GraphView, consts: ConstantValues, rewrite: GraphRewrite, newWeights: NewWeights,
    claimed: Set<string>): void {
  let count = 0;
  for (const node of view.graph.node) {
    if (!(node.op === 'AddV2' || node.op === 'Add') || claimed.has(node.name)) continue;
    const ln = matchLayerNorm(view, consts, {node: node.name, output: 0, control: false});
    if (!ln.ok || ln.value.eps === undefined || ln.value.nodes.some(n => claimed.has(n.name))) continue;
    const inside = new Set(ln.value.nodes.map(n => n.name));
    const escapes = ln.value.nodes.some(n => n !== node && view.consumers(n.name).some(c => !inside.has(c.node.name)));
    if (escapes) continue;
    const nodes = new NodeFactory(rewrite, newWeights, `BetterTransformer/layer_norm${count++}`);
    const embeddings = embeddingSumFeeding(view, consts, ln.value.input, inside, claimed);
    const fused = embeddings ?
      nodes.fused('embeddings', GRAPH_EMBEDDINGS_OP, [
        ...embeddings.terms.flatMap((t, k): Array<[string, InputRef]> =>
          t.kind === 'lookup' ? [[`table${k}`, t.table], [`indices${k}`, t.indices]] : [[`constant${k}`, t.value]]),
        ['gamma', ln.value.gamma], ['beta', ln.value.beta],
      ], {has_norm: boolAttr(true), eps: floatAttr(ln.value.eps)}) :
      nodes.fused('layer_norm', GRAPH_LAYER_NORM_OP,
          [['x', ln.value.input], ['ln1Gamma', ln.value.gamma], ['ln1Beta', ln.value.beta]], {eps: {f: ln.value.eps}});
    const removed = [...ln.value.nodes, ...(embeddings?.nodes ?? [])];
    if (embeddings) removed.push(...replaceLookupShapes(nodes, embeddings));
    rewrite.remove(removed, fused.node);
    rewrite.redirect({node: node.name, output: 0, control: false}, fused);
    removed.forEach(n => claimed.add(n.name));
  }
}
