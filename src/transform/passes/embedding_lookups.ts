/**
 * Table lookups no LayerNorm follows become one EmbeddingSum op (no norm) each:
 * a sum of lookups and constants (GPT-2's token + position embeddings) as one
 * op with all its terms, then each lookup left on its own (T5's token
 * embeddings; its relative-position bias table) as one op of a single term. On
 * `cpu` that is a copy of whole rows instead of tfjs's element-by-element
 * gather and broadcasting adds. Runs after the embeddings pass, which takes the
 * sums a LayerNorm follows. Not listed in the report: the same computation in
 * other ops.
 */
import {ConstantValues} from '../graph/constant_values';
import {NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {EmbeddingSumMatch, GATHER_OPS, lookupOf, matchEmbeddingSum} from '../match/embedding_sum';
import {ADD_OPS} from '../match/operands';
import {widestDisjoint} from '../match/widest_disjoint';
import {rewriteLookup, rewriteUnnormalisedSum} from '../rewrite/embeddings_rewrite';
import {rewriteSites} from './graph_rewriting';
import {aroundFusedBlocks, FusionPass} from './pass';

/** The op takes int32 indices; a graph gathering at int64 ones keeps its gather. */
function int32Indices(node: NodeDef): boolean {
  const type = node.attr?.['Tindices']?.type;
  return type === undefined || type === 'DT_INT32';
}

/** Sums of lookups: the widest, none inside another. */
function embeddingSums(view: GraphView, consts: ConstantValues): Array<{root: NodeDef; sum: EmbeddingSumMatch}> {
  const found: Array<{root: NodeDef; sum: EmbeddingSumMatch}> = [];
  for (const node of view.graph.node) {
    if (!ADD_OPS.has(node.op)) continue;
    const sum = matchEmbeddingSum(view, consts, {node: node.name, output: 0, control: false});
    if (!sum.ok) continue;
    const gathers = sum.value.nodes.filter(n => GATHER_OPS.has(n.op));
    if (gathers.every(int32Indices)) found.push({root: node, sum: sum.value});
  }
  return widestDisjoint(view, found, f => f.sum.nodes, f => f.root);
}

export const embeddingLookupsPass: FusionPass = {
  name: 'embedding-lookups',
  description: 'table lookups and their sums with no LayerNorm after them (GPT-2, T5)',
  option: 'fuseLayerNorms',
  applies: aroundFusedBlocks,
  run(ctx) {
    rewriteSites(ctx, r => {
      const removed = new Set<string>();
      for (const {root, sum} of embeddingSums(r.view, r.consts)) {
        rewriteUnnormalisedSum(r.nodes('BetterTransformer/lookup'), root, sum).forEach(n => removed.add(n.name));
      }
      for (const node of r.view.graph.node) {
        if (!GATHER_OPS.has(node.op) || removed.has(node.name) || !int32Indices(node)) continue;
        const lookup = lookupOf(r.view, r.consts, node);
        if (!lookup.ok || lookup.value.kind !== 'lookup') continue;
        rewriteLookup(r.nodes('BetterTransformer/lookup'), node, lookup.value);
      }
    });
  },
};
