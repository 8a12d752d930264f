/**
 * RMSNorms left outside the fused blocks (T5's final encoder norm) become one
 * RmsNorm op each. Not listed in the report: it is the same computation in
 * fewer ops.
 */
import {ConstantValues} from '../graph/constant_values';
import {GraphRewrite} from '../graph/graph_rewrite';
import {GraphView} from '../graph/graph_view';
import {standaloneRmsNorms} from '../match/standalone_rms_norm';
import {NodeFactory} from '../rewrite/node_builders';
import {rewriteRmsNorm} from '../rewrite/rms_norm_rewrite';
import {FusionPass} from './pass';

export const rmsNormsPass: FusionPass = {
  name: 'rms-norms',
  description: 'RMSNorm decompositions outside the fused blocks',
  option: 'fuseLayerNorms',
  applies: ctx => ctx.lookup !== undefined && ctx.report.fused.length > 0,
  run(ctx) {
    const view = new GraphView(ctx.graph);
    const consts = new ConstantValues(view, ctx.lookup, ctx.options.quantizedWeights ?? false);
    const norms = standaloneRmsNorms(view, consts);
    if (norms.length === 0) return;
    const rewrite = new GraphRewrite(ctx.graph);
    norms.forEach((norm, i) => rewriteRmsNorm(new NodeFactory(rewrite, ctx.newWeights, `BetterTransformer/rms_norm${i}`), norm));
    ctx.graph = rewrite.apply();
  },
};
