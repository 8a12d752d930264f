/**
 * Replaces an embedding sum and the LayerNorm after it (BERT's embeddings:
 * word, position and token-type lookups, their adds, the LayerNorm) by one
 * EmbeddingSum node.
 */
import * as tf from '@tensorflow/tfjs-core';
import {AttrValue, InputRef, NodeDef} from '../graph/graph_def';
import {graphOpName} from '../../op_table';
import {EmbeddingSumMatch} from '../match/embedding_sum';
import {StandaloneLayerNorm} from '../match/standalone_layer_norm';
import {boolAttr, floatAttr, intAttr, NodeFactory} from './node_builders';

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

/** Rewrites `ln` and the embedding sum feeding it; returns the names of the nodes it removed. */
export function rewriteEmbeddings(nodes: NodeFactory, ln: StandaloneLayerNorm, sum: EmbeddingSumMatch): NodeDef[] {
  return rewriteSum(nodes, sum, ln.output, [...ln.match.nodes], [['gamma', ln.match.gamma], ['beta', ln.match.beta]],
      {hasNorm: boolAttr(true), epsilon: floatAttr(ln.match.eps)});
}

/** Rewrites an embedding sum no LayerNorm follows (GPT-2's token + position embeddings), `root` its last Add. */
export function rewriteUnnormalisedSum(nodes: NodeFactory, root: NodeDef, sum: EmbeddingSumMatch): NodeDef[] {
  return rewriteSum(nodes, sum, root, [], [], {hasNorm: boolAttr(false)});
}

function rewriteSum(nodes: NodeFactory, sum: EmbeddingSumMatch, output: NodeDef, normNodes: NodeDef[],
                    norm: Array<[string, InputRef | null]>, attr: Record<string, AttrValue>): NodeDef[] {
  const fused = nodes.fused('embeddings', graphOpName('EmbeddingSum'), [
    ...sum.terms.flatMap((t, k): Array<[string, InputRef]> =>
      t.kind === 'lookup' ? [[`table${k}`, t.table], [`indices${k}`, t.indices]] : [[`constant${k}`, t.value]]),
    ...norm.filter((entry): entry is [string, InputRef] => entry[1] !== null),
  ], attr);
  const removed = [...normNodes, ...sum.nodes, ...replaceLookupShapes(nodes, sum)];
  nodes.rewrite.remove(removed, fused.node);
  nodes.rewrite.redirect({node: output.name, output: 0, control: false}, fused);
  return removed;
}

/** Replaces one table lookup (a GatherV2 of rows) by an EmbeddingSum node of that single term and no norm. */
export function rewriteLookup(nodes: NodeFactory, gather: NodeDef, term: {table: InputRef; indices: InputRef}): void {
  const fused = nodes.fused('lookup', graphOpName('EmbeddingSum'), [['table0', term.table], ['indices0', term.indices]],
      {hasNorm: boolAttr(false)});
  nodes.rewrite.remove([gather], fused.node);
  nodes.rewrite.redirect({node: gather.name, output: 0, control: false}, fused);
}
