/**
 * The relative position bias fed to fused encoder layers (T5: Range
 * positions, bucket arithmetic, a lookup in a learned table, a transpose;
 * about twenty tfjs ops per forward) becomes one RelativePositionBias op, with
 * the graph's own bucket of every distance as a constant
 * (match/relative_position_bias.ts). Runs before the lookups pass (the match
 * evaluates the graph's GatherV2) and before the stacks pass (it reads the
 * layers' attentionBias inputs). Not listed in the report: the same
 * computation in one op.
 */
import * as tf from '@tensorflow/tfjs-core';
import {graphOpName} from '../../op_table';
import {FUSED_ENCODER_OPS, fusedInputRef} from '../graph/fused_nodes';
import {formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matchRelativePositionBias} from '../match/relative_position_bias';
import {rewriteSites} from './graph_rewriting';
import {aroundFusedBlocks, FusionPass} from './pass';

/**
 * The nodes that only computed the bias (everything above it that nothing else reads, up to its Ranges and
 * constants, which the new op reads).
 */
function deadAfterRedirect(view: GraphView, root: InputRef, keep: Set<string>): NodeDef[] {
  const dead = new Map<string, NodeDef>();
  const rootNode = view.node(view.resolve(root).ref.node);
  if (!rootNode) return [];
  dead.set(rootNode.name, rootNode);
  const frontier = [rootNode];
  while (frontier.length > 0) {
    const node = frontier.pop() as NodeDef;
    for (const ref of view.dataInputs(node)) {
      const input = view.node(ref.node);
      if (!input || dead.has(input.name) || keep.has(input.name) || input.op === 'Const' || input.op === 'Range') continue;
      if (view.consumers(input.name).every(c => dead.has(c.node.name))) {
        dead.set(input.name, input);
        frontier.push(input);
      }
    }
  }
  return [...dead.values()];
}

/** The distinct attentionBias inputs of the fused encoder nodes. */
function biasInputs(view: GraphView): InputRef[] {
  const found = new Map<string, InputRef>();
  for (const node of view.graph.node) {
    const raw = FUSED_ENCODER_OPS.has(node.op) ? fusedInputRef(node, 'attentionBias') : undefined;
    const ref = raw ? view.resolve(raw).ref : undefined;
    if (ref) found.set(formatInputRef(ref), ref);
  }
  return [...found.values()];
}

export const relativePositionBiasesPass: FusionPass = {
  name: 'relative-position-biases',
  description: "T5's relative position bias subgraph feeding fused encoder layers",
  option: 'fuseLayerNorms',
  applies: aroundFusedBlocks,
  run(ctx) {
    rewriteSites(ctx, r => {
      for (const bias of biasInputs(r.view)) {
        const m = matchRelativePositionBias(r.view, r.consts, bias);
        if (!m.ok) continue;
        const nodes = r.nodes('BetterTransformer/position_bias');
        const buckets = nodes.constant('bucket_of_distance', tf.tensor1d(m.value.bucketOfDistance, 'int32'));
        const fused = nodes.fused('position_bias', graphOpName('RelativePositionBias'), [
          ['table', m.value.table], ['bucketOfDistance', buckets], ['queryPositions', m.value.queryPositions],
          ['keyPositions', m.value.keyPositions],
        ], {});
        nodes.rewrite.redirect(bias, fused);
        nodes.rewrite.remove(deadAfterRedirect(r.view, bias, new Set([m.value.table.node])), fused.node);
      }
    });
  },
};
