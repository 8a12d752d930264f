/**
 * The first pass: finds every attention core (by structure, around each
 * Softmax), grows it into a whole encoder layer where the layer matches, and
 * rewrites what matched: a layer as one TransformerEncoderLayer node, else the
 * core as one ScaledDotProductAttention node. Without weights it only plans.
 */
import {ConstantValues} from '../graph/constant_values';
import {NodeDef} from '../graph/graph_def';
import {GraphRewrite} from '../graph/graph_rewrite';
import {GraphView} from '../graph/graph_view';
import {matchAttentionCore} from '../match/attention_core';
import {EncoderLayerMatch, matchEncoderLayer} from '../match/encoder_layer';
import {nodeReadingPaddedRows} from '../match/padded_rows';
import {matchPaddingMaskSum} from '../match/padding_mask';
import {identifyArchitecture} from '../architectures';
import {FusedBlock, TransformReport} from '../report';
import {POSITION_BIAS_REFUSAL, rewriteAttentionCore} from '../rewrite/attention_rewrite';
import {rewriteEncoderLayer} from '../rewrite/encoder_rewrite';
import {NodeFactory} from '../rewrite/node_builders';
import {AttentionCandidate, FusionPass, PassContext} from './pass';

function overlaps(a: Set<string>, nodes: NodeDef[]): boolean {
  return nodes.some(n => a.has(n.name));
}

function findCandidates(ctx: PassContext, view: GraphView, consts: ConstantValues): AttentionCandidate[] {
  const candidates: AttentionCandidate[] = [];
  for (const node of ctx.graph.node) {
    if (node.op !== 'Softmax') continue;
    const core = matchAttentionCore(view, consts, node);
    if (!core.ok) {
      ctx.report.skipped.push({nodes: [node.name], reason: core.reason});
      continue;
    }
    let layer: EncoderLayerMatch | null = null;
    let layerRefusal: string | null = null;
    if (ctx.options.fuseEncoderLayers !== false) {
      const m = matchEncoderLayer(view, consts, core.value);
      if (m.ok) layer = m.value;
      else layerRefusal = m.reason;
    }
    candidates.push({core: core.value, layer, layerRefusal});
  }
  return candidates;
}

/**
 * A layer that skips padded tokens leaves zeros in their rows. Where a node
 * after it could carry a padded row into a real one (match/padded_rows.ts), the
 * layer is fused as attention only instead, which computes padded rows as the
 * original does. Dropping one layer can expose another (the nodes of the
 * dropped layer are no longer fused), so this repeats until nothing changes.
 */
function keepPaddedRowsWhereRead(ctx: PassContext, view: GraphView, consts: ConstantValues): void {
  const skipping = () => ctx.candidates.filter(c => c.layer?.padding);
  // Attention cores whose scores get a padding mask: the mask's input, and where the core's result leaves it.
  const maskedCores = new Map<string, {padding: string; output: string; keySide: (node: NodeDef, index: number) => boolean}>();
  for (const c of ctx.candidates) {
    if (c.core.masks.length !== 1 || c.core.masks[0].scaledBy.length > 0) continue;
    if (c.core.positionBias) continue;
    const p = matchPaddingMaskSum(view, consts, c.core.masks[0].ref, c.core.masks[0].sign);
    if (!p.ok) continue;
    const core = c.core;
    // The q operand of the scores product, and with heads flattened into the batch (BART) the Reshape
    // between it and the product: a tensor entering there is the queries.
    const qSide = new Set([core.q.node]);
    view.dataInputs(core.scoresProduct).forEach(ref => {
      const node = view.resolve(ref).node;
      if (node?.op === 'Reshape' && view.resolvedInput(node, 0)?.node === core.q.node) qSide.add(node.name);
    });
    // Entering at the scores product's k operand, the output product's v operand, or an interior node on
    // the k or v side (the Reshapes that flatten them).
    const keySide = (node: NodeDef, index: number) => {
      if (node === core.scoresProduct) {
        const ref = view.resolvedInput(node, index);
        return ref !== undefined && !qSide.has(ref.node);
      }
      if (node === core.outputProduct) return index === 1;
      return (node.op === 'Reshape' || node.op === 'Transpose') && !qSide.has(node.name) &&
          view.consumers(node.name).every(c => c.node === core.scoresProduct || c.node === core.outputProduct ||
              c.node.op === 'Shape');
    };
    for (const n of core.interior) maskedCores.set(n.name, {padding: p.value.input.node, output: core.outputNode.name, keySide});
  }
  for (let changed = true; changed;) {
    changed = false;
    const paddingOf = new Map<string, string>();
    for (const c of skipping()) for (const n of c.layer!.interior) paddingOf.set(n.name, c.layer!.padding!.input.node);
    for (const c of skipping()) {
      const layer = c.layer!;
      const key = layer.padding!.input.node;
      const reader = nodeReadingPaddedRows(view, consts, layer.output, {
        fusedLayer: node => paddingOf.get(node.name) === key,
        maskedAttentionOutput: (node, index) => {
          const core = maskedCores.get(node.name);
          if (!core || core.padding !== key) return null;
          return core.keySide(node, index) ? '' : core.output;
        },
      });
      if (reader === null) continue;
      c.layer = null;
      c.layerRefusal = `padded rows of its output would reach ${reader}, which could carry them into real tokens' ` +
          'results: fused as attention only, which computes padded rows as the original does';
      changed = true;
    }
  }
}

function recordPlanned(report: TransformReport, c: AttentionCandidate): void {
  if (c.layer) {
    const unchecked = c.layer.unchecked ?? [];
    report.fused.push({kind: 'encoderLayer', layers: 1, nodes: c.layer.interior.map(n => n.name),
      ...(unchecked.length ? {unchecked} : {})});
    return;
  }
  if (c.core.positionBias) {
    // The fused attention alone does not take a position bias (rewriteAttentionCore refuses it).
    const layer = c.layerRefusal ? `; encoder layer not fused: ${c.layerRefusal}` : '';
    report.skipped.push({nodes: c.core.interior.map(n => n.name), reason: `${POSITION_BIAS_REFUSAL}${layer}`});
    return;
  }
  report.fused.push({kind: 'attention', layers: 1, nodes: c.core.interior.map(n => n.name)});
  if (c.layerRefusal) report.skipped.push({nodes: [c.core.softmax.name], reason: `encoder layer not fused: ${c.layerRefusal}`});
}

function rewriteCandidates(ctx: PassContext, consts: ConstantValues): void {
  const rewrite = new GraphRewrite(ctx.graph);
  const claimed = new Set<string>();
  ctx.candidates.forEach((c, i) => {
    const nodes = new NodeFactory(rewrite, ctx.newWeights, `BetterTransformer/block${i}`);
    if (c.layer && !overlaps(claimed, c.layer.interior)) {
      const done = rewriteEncoderLayer(c.layer, consts, nodes);
      if (done.ok) {
        c.layer.interior.forEach(n => claimed.add(n.name));
        const block: FusedBlock = {kind: 'encoderLayer', layers: 1, nodes: c.layer.interior.map(n => n.name)};
        ctx.report.fused.push(block);
        ctx.fusedNodes.set(block, done.value.node);
        return;
      }
      c.layerRefusal = done.reason;
    }
    if (overlaps(claimed, c.core.interior)) {
      ctx.report.skipped.push({nodes: [c.core.softmax.name], reason: 'overlaps a block fused already'});
      return;
    }
    const done = rewriteAttentionCore(c.core, consts, nodes);
    if (!done.ok) {
      const layer = c.layerRefusal ? `; encoder layer not fused: ${c.layerRefusal}` : '';
      ctx.report.skipped.push({nodes: c.core.interior.map(n => n.name), reason: `${done.reason}${layer}`});
      return;
    }
    c.core.interior.forEach(n => claimed.add(n.name));
    ctx.report.fused.push({kind: 'attention', layers: 1, nodes: c.core.interior.map(n => n.name)});
    if (c.layerRefusal) ctx.report.skipped.push({nodes: [c.core.softmax.name], reason: `encoder layer not fused: ${c.layerRefusal}`});
  });
  if (ctx.report.fused.length > 0) ctx.graph = rewrite.apply();
}

export const attentionBlocksPass: FusionPass = {
  name: 'attention-blocks',
  description: 'attention cores, grown into whole encoder layers where the layer matches',
  applies: () => true,
  run(ctx) {
    const view = new GraphView(ctx.graph);
    const consts = new ConstantValues(view, ctx.lookup, ctx.options.quantizedWeights ?? false);
    ctx.candidates = findCandidates(ctx, view, consts);
    // Which nodes keep rows apart needs constant values (reduction axes, weights): with weights only.
    if (ctx.lookup) keepPaddedRowsWhereRead(ctx, view, consts);
    ctx.report.architecture = identifyArchitecture(ctx.candidates.map(c => c.layer), ctx.candidates.length);
    if (!ctx.lookup) {
      for (const c of ctx.candidates) recordPlanned(ctx.report, c);
      return;
    }
    rewriteCandidates(ctx, consts);
  },
};
