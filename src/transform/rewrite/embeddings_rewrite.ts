/**
 * Replaces an embedding sum and the LayerNorm after it (BERT's embeddings:
 * word, position and token-type lookups, their adds, the LayerNorm) by one
 * EmbeddingSum node.
 */
import * as tf from '@tensorflow/tfjs-core';
import {InputRef, NodeDef} from '../graph/graph_def';
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
  const fused = nodes.fused('embeddings', graphOpName('EmbeddingSum'), [
    ...sum.terms.flatMap((t, k): Array<[string, InputRef]> =>
      t.kind === 'lookup' ? [[`table${k}`, t.table], [`indices${k}`, t.indices]] : [[`constant${k}`, t.value]]),
    ['gamma', ln.match.gamma], ['beta', ln.match.beta],
  ], {hasNorm: boolAttr(true), epsilon: floatAttr(ln.match.eps)});
  const removed = [...ln.match.nodes, ...sum.nodes, ...replaceLookupShapes(nodes, sum)];
  nodes.rewrite.remove(removed, fused.node);
  nodes.rewrite.redirect({node: ln.output.name, output: 0, control: false}, fused);
  return removed;
}
