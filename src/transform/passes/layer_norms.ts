/**
 * LayerNorms left outside the fused blocks (a final norm, an embeddings norm
 * not over lookups) become one LayerNorm op each. Not listed in the report: it
 * is the same computation in fewer ops.
 */
import {rewriteLayerNorm} from '../rewrite/layer_norm_rewrite';
import {rewriteLayerNormSites} from './layer_norm_sites';
import {aroundFusedBlocks, FusionPass} from './pass';

export const layerNormsPass: FusionPass = {
  name: 'layer-norms',
  description: 'LayerNorm decompositions outside the fused blocks',
  option: 'fuseLayerNorms',
  applies: aroundFusedBlocks,
  run(ctx) {
    rewriteLayerNormSites(ctx, 'BetterTransformer/layer_norm', (ln, nodes) => rewriteLayerNorm(nodes(), ln));
  },
};
