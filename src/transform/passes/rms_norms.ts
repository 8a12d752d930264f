/**
 * RMSNorms left outside the fused blocks (T5's final encoder norm) become one
 * RmsNorm op each. Not listed in the report: it is the same computation in
 * fewer ops.
 */
import {standaloneRmsNorms} from '../match/standalone_rms_norm';
import {rewriteRmsNorm} from '../rewrite/rms_norm_rewrite';
import {rewriteSites} from './graph_rewriting';
import {aroundFusedBlocks, FusionPass} from './pass';

export const rmsNormsPass: FusionPass = {
  name: 'rms-norms',
  description: 'RMSNorm decompositions outside the fused blocks',
  option: 'fuseLayerNorms',
  applies: aroundFusedBlocks,
  run(ctx) {
    rewriteSites(ctx, r => {
      for (const norm of standaloneRmsNorms(r.view, r.consts)) rewriteRmsNorm(r.nodes('BetterTransformer/rms_norm'), norm);
    });
  },
};
