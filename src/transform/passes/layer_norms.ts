/**
 * LayerNorms left outside the fused blocks (a final norm, an embeddings norm
 * not over lookups) become one LayerNorm op each. Not listed in the report: it
 * is the same computation in fewer ops.
 */
import {ConstantValues} from '../graph/constant_values';
import {GraphRewrite} from '../graph/graph_rewrite';
import {GraphView} from '../graph/graph_view';
import {standaloneLayerNorms} from '../match/standalone_layer_norm';
import {rewriteLayerNorm} from '../rewrite/layer_norm_rewrite';
import {NodeFactory} from '../rewrite/node_builders';
import {FusionPass} from './pass';

export const layerNormsPass: FusionPass = {
  name: 'layer-norms',
  description: 'LayerNorm decompositions outside the fused blocks',
  option: 'fuseLayerNorms',
  applies: ctx => ctx.lookup !== undefined && ctx.report.fused.length > 0,
  run(ctx) {
    const view = new GraphView(ctx.graph);
    const consts = new ConstantValues(view, ctx.lookup, ctx.options.quantizedWeights ?? false);
    const rewrite = new GraphRewrite(ctx.graph);
    const claimed = new Set<string>();
    let count = 0;
    for (const ln of standaloneLayerNorms(view, consts)) {
      if (ln.match.nodes.some(n => claimed.has(n.name))) continue;
      const nodes = new NodeFactory(rewrite, ctx.newWeights, `BetterTransformer/layer_norm${count++}`);
      rewriteLayerNorm(nodes, ln).forEach(n => claimed.add(n.name));
    }
    if (count > 0) ctx.graph = rewrite.apply();
  },
};
