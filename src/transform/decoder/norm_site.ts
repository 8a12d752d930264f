/**
 * The norms of a decoder: LayerNorm (match/layer_norm.ts) or RMSNorm
 * (x · rsqrt(mean(x²) + eps) · gamma, in the converter's elementwise form:
 * Square or Mul(x, x) or Pow(x, 2), Mean, AddV2 eps, Rsqrt or a division by
 * Sqrt, Mul gamma). With weights, the RMSNorm subgraph is evaluated on test
 * values and compared with the formula, as the LayerNorm matcher does.
 */
import * as tf from '@tensorflow/tfjs-core';
import {FLOAT32_MAX} from '../../op_table';
import {ConstantValues} from '../graph/constant_values';
import {attrShape, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {collectTree, ELEMENTWISE_OPS, isClosedOver, treeHasOp} from '../match/elementwise_tree';
import {evaluateSubgraph, relativeError} from '../match/evaluate_subgraph';
import {matchLayerNorm, refKey} from '../match/layer_norm';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, isScalarConst, operands} from '../match/operands';

export interface NormSite {
  kind: 'layer' | 'rms';
  input: InputRef;
  /** The norm's output tensor. */
  output: InputRef;
  gamma: InputRef | null;
  beta: InputRef | null;
  /** A scalar the output is multiplied by when there is no gamma (a gamma of ones folded with a scale: T5's head). */
  scale?: number;
  eps: number;
  nodes: NodeDef[];
}

function rank(view: GraphView, consts: ConstantValues, ref: InputRef): number | undefined {
  return (attrShape(view.resolve(ref).node?.attr?.['value']) ?? consts.value(ref)?.shape)?.length;
}

/** The input of x², written as Square(x), Mul(x, x) or Pow(x, 2). */
function squaredInput(view: GraphView, consts: ConstantValues, node: NodeDef): InputRef | null {
  const ops = operands(view, node);
  if (node.op === 'Square') return ops[0].ref;
  if (node.op === 'Mul' && ops.length === 2 && formatInputRef(ops[0].ref) === formatInputRef(ops[1].ref)) return ops[0].ref;
  if (node.op === 'Pow' && ops.length === 2 && consts.uniformScalar(ops[1].ref) === 2) return ops[0].ref;
  return null;
}

export function matchRmsNorm(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<NormSite> {
  const wide = collectTree(view, consts, output, null, 40);
  if (!treeHasOp(wide, 'Rsqrt', 'Sqrt') || !treeHasOp(wide, 'Mean')) return refused('no root of a mean');
  if (treeHasOp(wide, 'SquaredDifference', 'Sub')) return refused('the mean is subtracted (LayerNorm, not RMSNorm)');
  const mean = wide.nodes.find(n => n.op === 'Mean') as NodeDef;
  const square = view.producer(mean, 0);
  const input = square ? squaredInput(view, consts, square) : null;
  if (!input) return refused('the mean is not of squares');
  const tree = collectTree(view, consts, output, input);
  if (!isClosedOver(tree, input, view)) return refused('the normalisation reads more than one tensor');
  const root = tree.nodes.find(n => n.op === 'Rsqrt' || n.op === 'Sqrt') as NodeDef;
  const epsAdd = view.producer(root, 0);
  const epsOperand = epsAdd && ADD_OPS.has(epsAdd.op) ? operands(view, epsAdd).find(o => isScalarConst(view, consts, o.ref)) : undefined;
  if (!epsOperand) return refused('no epsilon added to the mean of squares');
  const gamma = tree.constants.find(c => rank(view, consts, c) === 1 &&
      tree.nodes.some(n => n.op === 'Mul' && view.dataInputs(n).some(r => view.resolve(r).ref.node === c.node))) ?? null;
  const eps = consts.uniformScalar(epsOperand.ref);
  if (eps === undefined || !(eps >= 0 && eps <= FLOAT32_MAX)) return refused(`RMSNorm epsilon ${eps} is not a finite non-negative float32`);
  const g = gamma ? consts.value(gamma) : undefined;
  // Without a gamma, a scalar constant multiplied in (a gamma of ones folded with a scale by the converter).
  const scaleRef = gamma ? undefined : tree.constants.find(c => c.node !== epsOperand.ref.node && consts.uniformScalar(c) !== undefined &&
      tree.nodes.some(n => n.op === 'Mul' && view.dataInputs(n).some(r => view.resolve(r).ref.node === c.node)));
  const scale = scaleRef ? consts.uniformScalar(scaleRef) : undefined;
  const width = g?.data.length ?? 8;
  const error = tf.tidy(() => {
    const x = tf.randomNormal([2, 3, width], 0.5, 2, 'float32', 11);
    const got = evaluateSubgraph(view, consts, tree.root, new Map([[refKey(view, input), x]]));
    if (!got) return Infinity;
    let want = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    if (g) want = tf.mul(want, tf.tensor1d(g.data as Float32Array));
    if (scale !== undefined) want = tf.mul(want, scale);
    return relativeError(got, want);
  });
  if (!(error < Math.max(1e-5, consts.formulaTolerance))) {
    return refused(`the RMSNorm-like subgraph does not compute RMSNorm (relative error ${error.toExponential(2)})`);
  }
  return matched({kind: 'rms', input, output, gamma, beta: null, eps, nodes: tree.nodes, ...(scale !== undefined && scale !== 1 ? {scale} : {})});
}

/** The norm (LayerNorm or RMSNorm) whose output is `output`. */
export function matchNormAt(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<NormSite> {
  const layer = matchLayerNorm(view, consts, output);
  if (layer.ok) {
    const l = layer.value;
    return matched({kind: 'layer', input: l.input, output, gamma: l.gamma, beta: l.beta, eps: l.eps ?? 1e-5, nodes: l.nodes});
  }
  const rms = matchRmsNorm(view, consts, output);
  if (rms.ok) return rms;
  return refused(`neither a LayerNorm (${layer.reason}) nor an RMSNorm (${rms.reason})`);
}

const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});

/**
 * The norm whose input is `input`, searched forward through elementwise
 * consumers (the widest match: a norm's last node, not an inner one).
 */
export function normReading(view: GraphView, consts: ConstantValues, input: InputRef,
    exclude: ReadonlySet<string> = new Set()): NormSite | null {
  const key = formatInputRef(view.resolve(input).ref);
  const frontier = [view.resolve(input).ref.node];
  const seen = new Set<string>();
  let best: NormSite | null = null;
  while (frontier.length > 0 && seen.size < 60) {
    const name = frontier.shift() as string;
    for (const c of view.realConsumers(name)) {
      if (seen.has(c.node.name) || !ELEMENTWISE_OPS.has(c.node.op)) continue;
      seen.add(c.node.name);
      frontier.push(c.node.name);
      if (exclude.has(c.node.name)) continue;
      const m = matchNormAt(view, consts, refOf(c.node));
      if (m.ok && formatInputRef(view.resolve(m.value.input).ref) === key && (!best || m.value.nodes.length > best.nodes.length)) {
        best = m.value;
      }
    }
  }
  return best;
}
