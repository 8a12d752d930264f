/**
 * The walk the embeddings and layer-norms passes share: every standalone
 * LayerNorm of the graph, in order, skipping those that overlap what an
 * earlier visit of the same pass removed, with the rewrite applied at the end
 * when anything was rewritten.
 */
import {ConstantValues} from '../graph/constant_values';
import {NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {StandaloneLayerNorm, standaloneLayerNorms} from '../match/standalone_layer_norm';
import {NodeFactory} from '../rewrite/node_builders';
import {rewriteSites} from './graph_rewriting';
import {PassContext} from './pass';

/**
 * `rewriteOne` gets a node factory named `<prefix><count>` and returns the
 * nodes it removed, or null when it leaves that LayerNorm alone (nodes it
 * removed count as taken for later LayerNorms).
 */
export function rewriteLayerNormSites(ctx: PassContext, prefix: string,
    rewriteOne: (ln: StandaloneLayerNorm, nodes: () => NodeFactory, claimed: Set<string>, view: GraphView,
                 consts: ConstantValues) => NodeDef[] | null): void {
  rewriteSites(ctx, r => {
    const claimed = new Set<string>();
    for (const ln of standaloneLayerNorms(r.view, r.consts)) {
      if (ln.match.nodes.some(n => claimed.has(n.name))) continue;
      const removed = rewriteOne(ln, () => r.nodes(prefix), claimed, r.view, r.consts);
      removed?.forEach(n => claimed.add(n.name));
    }
  });
}
