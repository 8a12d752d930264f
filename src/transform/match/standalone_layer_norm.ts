/**
 * LayerNorms that stand on their own in a graph (after the embeddings, a final
 * norm): a LayerNorm decomposition whose every node serves only that
 * LayerNorm, so the whole of it can be replaced by one op.
 */
import {ConstantValues} from '../graph/constant_values';
import {GraphView} from '../graph/graph_view';
import {NodeDef} from '../graph/graph_def';
import {LayerNormMatch, matchLayerNorm} from './layer_norm';

export interface StandaloneLayerNorm {
  /** The Add producing the normalised output. */
  output: NodeDef;
  match: LayerNormMatch & {eps: number};
  /** Names of the decomposition's nodes. */
  inside: Set<string>;
}

/** Every standalone LayerNorm of the graph with known constants, in graph order (overlapping ones included). */
export function standaloneLayerNorms(view: GraphView, consts: ConstantValues): StandaloneLayerNorm[] {
  const found: StandaloneLayerNorm[] = [];
  for (const node of view.graph.node) {
    if (!(node.op === 'AddV2' || node.op === 'Add')) continue;
    const ln = matchLayerNorm(view, consts, {node: node.name, output: 0, control: false});
    if (!ln.ok || ln.value.eps === undefined) continue;
    const inside = new Set(ln.value.nodes.map(n => n.name));
    const escapes = ln.value.nodes.some(n => n !== node && view.consumers(n.name).some(c => !inside.has(c.node.name)));
    if (!escapes) found.push({output: node, match: ln.value as LayerNormMatch & {eps: number}, inside});
  }
  return found;
}
