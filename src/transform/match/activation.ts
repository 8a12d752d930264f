/**
 * The FFN activation between the two feed-forward projections: ReLU, or GELU
 * as an Erf formula (exact) or a Tanh formula (approximate) in any spelling;
 * with weights the formula is evaluated and compared with the reference GELU.
 * Other activations (quick_gelu's x·sigmoid(1.702x), swish, ...) are refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {EncoderActivation} from '../../op_table';
import {ConstantValues} from '../graph/constant_values';
import {InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {collectTree, ElementwiseTree, isClosedOver, treeHasOp} from './elementwise_tree';
import {elementwiseError, evaluateSubgraph} from './evaluate_subgraph';
import {refKey} from './layer_norm';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS} from './operands';

export interface ActivationMatch {
  kind: EncoderActivation;
  input: InputRef;
  nodes: NodeDef[];
}

function reference(kind: EncoderActivation, z: tf.Tensor): tf.Tensor {
  if (kind === 'relu') return tf.relu(z);
  if (kind === 'gelu') return tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.div(z, Math.SQRT2))));
  const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3))));
  return tf.mul(tf.mul(z, 0.5), tf.add(1, tf.tanh(inner)));
}

function computes(view: GraphView, consts: ConstantValues, tree: ElementwiseTree, input: InputRef, kind: EncoderActivation): boolean {
  return tf.tidy(() => {
    const z = tf.reshape(tf.linspace(-6, 6, 97), [1, 97]);
    const got = evaluateSubgraph(view, consts, tree.root, new Map([[refKey(view, input), z]]));
    return got !== null && elementwiseError(got, reference(kind, z)) < consts.formulaTolerance;
  });
}

export function matchActivation(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<ActivationMatch> {
  const top = view.resolve(output).node;
  if (top?.op === 'Relu') return matched({kind: 'relu', input: view.resolvedInput(top, 0) as InputRef, nodes: [top]});
  const wide = collectTree(view, consts, output, null);
  const kind: EncoderActivation | null = treeHasOp(wide, 'Erf') ? 'gelu' : treeHasOp(wide, 'Tanh') ? 'gelu_tanh' : null;
  if (!kind) {
    const what = treeHasOp(wide, 'Sigmoid') ? 'x·sigmoid(a·x) (quick_gelu or swish)' : `'${top?.op ?? '?'}'`;
    return refused(`unsupported FFN activation ${what}; the fused layer supports GELU (erf or tanh) and ReLU`);
  }
  // The activation's input: a leaf of the tree, or a bias addition absorbed into it.
  const candidates: InputRef[] = [
    ...wide.nodes.filter(n => ADD_OPS.has(n.op) && n.name !== top?.name).map(n => ({node: n.name, output: 0, control: false})),
    ...wide.leaves,
  ];
  for (const input of candidates) {
    const tree = collectTree(view, consts, output, input);
    if (!isClosedOver(tree, input, view) || !treeHasOp(tree, kind === 'gelu' ? 'Erf' : 'Tanh')) continue;
    if (consts.haveValues && !computes(view, consts, tree, input, kind)) continue;
    return matched({kind, input, nodes: tree.nodes});
  }
  return refused(`the ${kind === 'gelu' ? 'Erf' : 'Tanh'} formula does not compute GELU`);
}
