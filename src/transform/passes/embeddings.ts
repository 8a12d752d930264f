/**
 * Embedding sums followed by a LayerNorm (BERT-family embeddings) become one
 * EmbeddingSum op: lookups, adds and the LayerNorm in one pass over the rows.
 * Runs before the standalone LayerNorm pass, which would otherwise take the
 * LayerNorm alone.
 */
import {ConstantValues} from '../graph/constant_values';
import {GraphView} from '../graph/graph_view';
import {EmbeddingSumMatch, matchEmbeddingSum} from '../match/embedding_sum';
import {StandaloneLayerNorm} from '../match/standalone_layer_norm';
import {rewriteEmbeddings} from '../rewrite/embeddings_rewrite';
import {rewriteLayerNormSites} from './layer_norm_sites';
import {aroundFusedBlocks, FusionPass} from './pass';

/** The embedding sum computing the LayerNorm's input, when it exists and only the LayerNorm reads it. */
function embeddingSumFeeding(view: GraphView, consts: ConstantValues, ln: StandaloneLayerNorm): EmbeddingSumMatch | null {
  const sum = matchEmbeddingSum(view, consts, ln.match.input);
  if (!sum.ok) return null;
  const root = view.resolve(ln.match.input).ref.node;
  return view.realConsumers(root).every(c => ln.inside.has(c.node.name)) ? sum.value : null;
}

export const embeddingsPass: FusionPass = {
  name: 'embeddings',
  description: 'embedding lookups, their sum and the LayerNorm after it',
  option: 'fuseLayerNorms',
  applies: aroundFusedBlocks,
  run(ctx) {
    rewriteLayerNormSites(ctx, 'BetterTransformer/embeddings', (ln, nodes, claimed, view, consts) => {
      const sum = embeddingSumFeeding(view, consts, ln);
      if (!sum || sum.nodes.some(n => claimed.has(n.name))) return null;
      return rewriteEmbeddings(nodes(), ln, sum);
    });
  },
};
