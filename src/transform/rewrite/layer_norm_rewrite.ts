/**
 * Rewrites around the fused blocks: LayerNorms left on their own, and the
 * embedding sums feeding them (lookups + adds + LayerNorm as one op).
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {InputRef, NodeDef} from '../graph/graph_def';
import {GraphRewrite} from '../graph/graph_rewrite';
import {GraphView} from '../graph/graph_view';
import {NewWeights} from '../graph/new_weights';
import {GRAPH_EMBEDDINGS_OP, GRAPH_LAYER_NORM_OP} from '../graph_ops';
import {EmbeddingSumMatch, matchEmbeddingSum} from '../match/embedding_sum';
import {matchLayerNorm} from '../match/layer_norm';
import {boolAttr, floatAttr, intAttr, NodeFactory} from './node_builders';

/**
 * LayerNorms left outside the fused blocks (the embeddings' LayerNorm, a final
 * norm) become one BetterTransformerLayerNorm each, when every node of the
 * decomposition serves only that LayerNorm; a LayerNorm of a sum of
 * embedding-table lookups becomes one BetterTransformerEmbeddings (lookups,
 * sum and norm in one op). Not listed in the report: it is the same
 * computation in fewer ops.
 */
/** The embedding sum computing `input`, when it exists and only the LayerNorm (`readers`) reads it. */
function embeddingSumFeeding(view: GraphView, consts: ConstantValues, input: InputRef, readers: Set<string>,
    claimed: Set<string>): EmbeddingSumMatch | null {
  const sum = matchEmbeddingSum(view, consts, input);
  if (!sum.ok || sum.value.nodes.some(n => claimed.has(n.name))) return null;
  const root = view.resolve(input).ref.node;
  return view.realConsumers(root).every(c => readers.has(c.node.name)) ? sum.value : null;
}

/**
 * Shape(lookup) = concat(Shape(indices), [width]): the Shape nodes that read
 * a removed lookup get that instead; returns them for removal.
 */
function replaceLookupShapes(nodes: NodeFactory, sum: EmbeddingSumMatch): NodeDef[] {
  return sum.shapeReaders.map(({node, indices}, i) => {
    const outType = node.attr?.['out_type'] ?? {type: 'DT_INT32'};
    const indicesShape = nodes.op(`lookup_shape${i}/indices`, 'Shape', [indices], {out_type: outType});
    const width = nodes.constant(`lookup_shape${i}/width`, tf.tensor1d([sum.width], 'int32'));
    const axis = nodes.constant(`lookup_shape${i}/axis`, tf.scalar(0, 'int32'));
    const shape = nodes.op(`lookup_shape${i}`, 'ConcatV2', [indicesShape, width, axis],
        {N: intAttr(2), T: outType, Tidx: {type: 'DT_INT32'}});
    nodes.rewrite.redirect({node: node.name, output: 0, control: false}, shape);
    return node;
  });
}

export function fuseStandaloneLayerNorms(view: GraphView, consts: ConstantValues, rewrite: GraphRewrite, newWeights: NewWeights,
    claimed: Set<string>): void {
  let count = 0;
  for (const node of view.graph.node) {
    if (!(node.op === 'AddV2' || node.op === 'Add') || claimed.has(node.name)) continue;
    const ln = matchLayerNorm(view, consts, {node: node.name, output: 0, control: false});
    if (!ln.ok || ln.value.eps === undefined || ln.value.nodes.some(n => claimed.has(n.name))) continue;
    const inside = new Set(ln.value.nodes.map(n => n.name));
    const escapes = ln.value.nodes.some(n => n !== node && view.consumers(n.name).some(c => !inside.has(c.node.name)));
    if (escapes) continue;
    const nodes = new NodeFactory(rewrite, newWeights, `BetterTransformer/layer_norm${count++}`);
    const embeddings = embeddingSumFeeding(view, consts, ln.value.input, inside, claimed);
    const fused = embeddings ?
      nodes.fused('embeddings', GRAPH_EMBEDDINGS_OP, [
        ...embeddings.terms.flatMap((t, k): Array<[string, InputRef]> =>
          t.kind === 'lookup' ? [[`table${k}`, t.table], [`indices${k}`, t.indices]] : [[`constant${k}`, t.value]]),
        ['gamma', ln.value.gamma], ['beta', ln.value.beta],
      ], {has_norm: boolAttr(true), eps: floatAttr(ln.value.eps)}) :
      nodes.fused('layer_norm', GRAPH_LAYER_NORM_OP,
          [['x', ln.value.input], ['ln1Gamma', ln.value.gamma], ['ln1Beta', ln.value.beta]], {eps: {f: ln.value.eps}});
    const removed = [...ln.value.nodes, ...(embeddings?.nodes ?? [])];
    if (embeddings) removed.push(...replaceLookupShapes(nodes, embeddings));
    rewrite.remove(removed, fused.node);
    rewrite.redirect({node: node.name, output: 0, control: false}, fused);
    removed.forEach(n => claimed.add(n.name));
  }
}
