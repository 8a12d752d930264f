/**
 * What the passes that rewrite sites one by one share: a view and the
 * constants of the graph as the passes so far left it, a rewrite applied only
 * when something was rewritten, and a node factory per site.
 */
import {ConstantValues} from '../graph/constant_values';
import {GraphRewrite} from '../graph/graph_rewrite';
import {GraphView} from '../graph/graph_view';
import {NodeFactory} from '../rewrite/node_builders';
import {PassContext} from './pass';

export interface SiteRewriter {
  view: GraphView;
  consts: ConstantValues;
  /** A factory for the next site's nodes, named `<prefix><count>`; counts the site as rewritten. */
  nodes(prefix: string): NodeFactory;
}

export function rewriteSites(ctx: PassContext, body: (r: SiteRewriter) => void): void {
  const view = new GraphView(ctx.graph);
  const consts = new ConstantValues(view, ctx.lookup, ctx.options.quantizedWeights ?? false);
  const rewrite = new GraphRewrite(ctx.graph);
  const counts = new Map<string, number>();
  body({
    view, consts,
    nodes(prefix) {
      const count = counts.get(prefix) ?? 0;
      counts.set(prefix, count + 1);
      return new NodeFactory(rewrite, ctx.newWeights, `${prefix}${count}`);
    },
  });
  if (counts.size > 0) ctx.graph = rewrite.apply();
}
