/**
 * LayerNorm over the last axis in whatever elementwise form the converter
 * emitted (Keras' moments + batch_normalization chain: Mean, SquaredDifference,
 * Mean, AddV2 eps, Rsqrt, Mul gamma, ..., in any operand order). Structure
 * finds the input, gamma, beta and eps; with weights, evaluating the subgraph
 * on test values proves it is LayerNorm with those parameters.
 */
import * as tf from '@tensorflow/tfjs-core';
import {FLOAT32_MAX} from '../../op_table';
import {ConstantValues} from '../graph/constant_values';
import {attrShape, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {collectTree, isClosedOver, treeHasOp} from './elementwise_tree';
import {evaluateSubgraph, relativeError} from './evaluate_subgraph';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS, isScalarConst, operands} from './operands';

export interface LayerNormMatch {
  input: InputRef;
  gamma: InputRef;
  beta: InputRef;
  epsRef: InputRef;
  /** Known when weights are available. */
  eps?: number;
  nodes: NodeDef[];
}

function constRank(view: GraphView, consts: ConstantValues, ref: InputRef): number | undefined {
  const shape = attrShape(view.resolve(ref).node?.attr?.['value']) ?? consts.value(ref)?.shape;
  return shape?.length;
}

export function matchLayerNorm(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<LayerNormMatch> {
  const wide = collectTree(view, consts, output, null, 60);
  const mean = wide.nodes.find(n => n.op === 'Mean' && !['SquaredDifference', 'Square'].includes(view.producer(n, 0)?.op ?? ''));
  if (!mean) return refused('no mean over the features');
  const input = view.resolvedInput(mean, 0) as InputRef;
  const tree = collectTree(view, consts, output, input);
  if (!isClosedOver(tree, input, view)) return refused('the normalisation reads more than one tensor');
  if (!treeHasOp(tree, 'Rsqrt', 'Sqrt')) return refused('no square root of the variance');

  const root = tree.nodes.find(n => n.op === 'Rsqrt' || n.op === 'Sqrt') as NodeDef;
  const epsAdd = view.producer(root, 0);
  const epsOperand = epsAdd && ADD_OPS.has(epsAdd.op) ? operands(view, epsAdd).find(o => isScalarConst(view, consts, o.ref)) : undefined;
  if (!epsOperand) return refused('no epsilon added to the variance');

  const vectors = tree.constants.filter(c => constRank(view, consts, c) === 1);
  const mulInputs = new Set<string>();
  const addInputs = new Set<string>();
  for (const n of tree.nodes) {
    for (const ref of view.dataInputs(n)) {
      const key = view.resolve(ref).ref.node;
      if (n.op === 'Mul') mulInputs.add(key);
      if (ADD_OPS.has(n.op) || n.op === 'Sub') addInputs.add(key);
    }
  }
  const gamma = vectors.find(c => mulInputs.has(c.node));
  const beta = vectors.find(c => addInputs.has(c.node) && c !== gamma);
  if (!gamma || !beta) return refused('LayerNorm without both a scale (gamma) and an offset (beta)');

  const result: LayerNormMatch = {input, gamma, beta, epsRef: epsOperand.ref, nodes: tree.nodes};
  if (!consts.haveValues) return matched(result);
  const eps = consts.uniformScalar(epsOperand.ref);
  const g = consts.value(gamma);
  const b = consts.value(beta);
  if (eps === undefined || !g || !b) return refused('LayerNorm constants are unknown');
  // The fused ops take eps as a float32: it must be finite there.
  if (!(eps >= 0 && eps <= FLOAT32_MAX)) return refused(`LayerNorm epsilon ${eps} is not a finite non-negative float32`);
  result.eps = eps;
  const error = tf.tidy(() => {
    const width = g.data.length;
    const x = tf.randomNormal([2, 3, width], 0.5, 2, 'float32', 7);
    const got = evaluateSubgraph(view, consts, tree.root, new Map([[refKey(view, input), x]]));
    if (!got) return Infinity;
    const moments = tf.moments(x, -1, true);
    const want = tf.add(tf.mul(tf.div(tf.sub(x, moments.mean), tf.sqrt(tf.add(moments.variance, eps))),
        tf.tensor1d(g.data as Float32Array)), tf.tensor1d(b.data as Float32Array));
    return relativeError(got, want);
  });
  if (!(error < Math.max(1e-5, consts.formulaTolerance))) return refused(`the LayerNorm-like subgraph does not compute LayerNorm (relative error ${error.toExponential(2)})`);
  return matched(result);
}

export function refKey(view: GraphView, ref: InputRef): string {
  const r = view.resolve(ref).ref;
  return r.output === 0 ? r.node : `${r.node}:${r.output}`;
}
