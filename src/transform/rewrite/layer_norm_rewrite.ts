/** Replaces a standalone LayerNorm's decomposition (about ten ops) by one LayerNorm node. */
import {NodeDef} from '../graph/graph_def';
import {graphOpName} from '../../op_table';
import {StandaloneLayerNorm} from '../match/standalone_layer_norm';
import {floatAttr, NodeFactory} from './node_builders';

export function rewriteLayerNorm(nodes: NodeFactory, ln: StandaloneLayerNorm): NodeDef[] {
  const fused = nodes.fused('layer_norm', graphOpName('LayerNorm'),
      [['x', ln.match.input], ['gamma', ln.match.gamma], ['beta', ln.match.beta]], {epsilon: floatAttr(ln.match.eps)});
  nodes.rewrite.remove(ln.match.nodes, fused.node);
  nodes.rewrite.redirect({node: ln.output.name, output: 0, control: false}, fused);
  return ln.match.nodes;
}
