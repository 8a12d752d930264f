/**
 * The fusion passes, in the order they run. Each pass is a file in passes/;
 * each runs on the graph the one before it left. Order matters: whole blocks
 * first (what is inside them is gone afterwards), the embeddings before the
 * standalone LayerNorms (which would take the embeddings' norm alone), the
 * position biases before the lone lookups (their match evaluates the graph's gather),
 * lone lookups after both (a lookup an embedding sum takes is gone by then), the
 * stacks last (they group the layers the first pass fused).
 */
import {attentionBlocksPass} from './passes/attention_blocks';
import {embeddingLookupsPass} from './passes/embedding_lookups';
import {embeddingsPass} from './passes/embeddings';
import {encoderStacksPass} from './passes/encoder_stacks';
import {layerNormsPass} from './passes/layer_norms';
import {relativePositionBiasesPass} from './passes/relative_position_biases';
import {rmsNormsPass} from './passes/rms_norms';
import type {FusionPass} from './passes/pass';

export const FUSION_PASSES: readonly FusionPass[] = [
  attentionBlocksPass,
  embeddingsPass,
  layerNormsPass,
  rmsNormsPass,
  relativePositionBiasesPass,
  embeddingLookupsPass,
  encoderStacksPass,
];
