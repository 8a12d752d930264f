/** Replaces a standalone RMSNorm's decomposition (Square, Mean, Add, Rsqrt, Muls) by one RmsNorm node. */
import * as tf from '@tensorflow/tfjs-core';
import {NodeDef} from '../graph/graph_def';
import {graphOpName} from '../../op_table';
import {StandaloneRmsNorm} from '../match/standalone_rms_norm';
import {floatAttr, NodeFactory} from './node_builders';

export function rewriteRmsNorm(nodes: NodeFactory, norm: StandaloneRmsNorm): NodeDef[] {
  const {site} = norm;
  // A gamma the converter folded away (all ones, perhaps times a scale) becomes a constant again: the op takes one.
  const gamma = site.gamma ?? nodes.constant('gamma', tf.fill([norm.width], site.scale ?? 1));
  const fused = nodes.fused('rms_norm', graphOpName('RmsNorm'), [['x', site.input], ['gamma', gamma]],
      {epsilon: floatAttr(site.eps)});
  nodes.rewrite.remove(site.nodes, fused.node);
  nodes.rewrite.redirect({node: norm.output.name, output: 0, control: false}, fused);
  return site.nodes;
}
