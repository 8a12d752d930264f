/**
 * A decoder layer's MLP from the tensor it reads: one up projection and an
 * activation (GELU, tanh GELU, ReLU, SiLU) before the down projection, or a
 * gated pair (SwiGLU: act(gate) · up). The activation is identified by
 * evaluating the elementwise subgraph between the projections on test values
 * and comparing it with each candidate formula, so any spelling of the formula
 * is recognised and a formula that computes something else is refused.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {DecoderActivation} from '../../op_table';
import {ConstantValues} from '../graph/constant_values';
import {formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {DenseMatch, densesReading} from '../match/dense';
import {collectTree, ELEMENTWISE_OPS} from '../match/elementwise_tree';
import {elementwiseError, evaluateSubgraph} from '../match/evaluate_subgraph';
import {refKey} from '../match/layer_norm';
import {matched, MatchResult, refused} from '../match/match_result';

export interface MlpMatch {
  up: DenseMatch;
  gate: DenseMatch | null;
  down: DenseMatch;
  activation: DecoderActivation;
  nodes: NodeDef[];
  /** Without weights: the activation was named from the ops it uses, its formula not evaluated (see planGated). */
  unchecked?: string[];
}

const ACTIVATIONS: Record<DecoderActivation, (z: tf.Tensor) => tf.Tensor> = {
  relu: z => tf.relu(z),
  gelu: z => tf.mul(tf.mul(z, 0.5), tf.add(1, tf.erf(tf.div(z, Math.SQRT2)))),
  gelu_tanh: z => tf.mul(tf.mul(z, 0.5), tf.add(1, tf.tanh(tf.mul(Math.sqrt(2 / Math.PI), tf.add(z, tf.mul(0.044715, tf.pow(z, 3))))))),
  silu: z => tf.mul(z, tf.sigmoid(z)),
};

const key = (view: GraphView, ref: InputRef) => formatInputRef(view.resolve(ref).ref);
const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});

/** The first dense projection reading a tensor reached forward from `from` through elementwise ops. */
function downProjection(view: GraphView, consts: ConstantValues, from: InputRef[], exclude: Set<string>): DenseMatch | null {
  const frontier = from.map(r => view.resolve(r).ref.node);
  const seen = new Set<string>();
  while (frontier.length > 0 && seen.size < 60) {
    const name = frontier.shift() as string;
    for (const c of view.realConsumers(name)) {
      if (seen.has(c.node.name) || !ELEMENTWISE_OPS.has(c.node.op)) continue;
      seen.add(c.node.name);
      frontier.push(c.node.name);
      const dense = densesReading(view, consts, refOf(c.node)).find(d => !exclude.has(key(view, d.output)));
      if (dense) return dense;
    }
  }
  return null;
}

/** Which activation the subgraph `root` computes of `input` (with `other` multiplied in, when gated). */
function identify(view: GraphView, consts: ConstantValues, root: InputRef, input: InputRef, other: InputRef | null):
    DecoderActivation | null {
  const kinds = Object.keys(ACTIVATIONS) as DecoderActivation[];
  const index = tf.tidy(() => {
    const z = tf.reshape(tf.linspace(-6, 6, 97), [1, 97]);
    const u = tf.reshape(tf.linspace(-2, 3, 97), [1, 97]);
    const given = new Map([[refKey(view, input), z]]);
    if (other) given.set(refKey(view, other), u);
    const got = evaluateSubgraph(view, consts, root, given);
    if (!got) return -1;
    return kinds.findIndex(kind => {
      const want = other ? tf.mul(ACTIVATIONS[kind](z), u) : ACTIVATIONS[kind](z);
      return elementwiseError(got, want) < Math.max(2e-6, consts.formulaTolerance);
    });
  }) as unknown as number;
  return index >= 0 ? kinds[index] : null;
}

/** The activation a gated MLP's formula names by its ops (Erf, Tanh, Sigmoid, Relu); null when it names none or several. */
const ACTIVATION_OPS: Record<string, DecoderActivation> = {Erf: 'gelu', Tanh: 'gelu_tanh', Sigmoid: 'silu', Relu: 'relu'};

/**
 * Without weights the formula's constants are unknown, so `identify` cannot
 * evaluate it: the gated pair is planned from its structure instead (`inspect`)
 * — the gate is the projection the activation's ops read, the activation is
 * named by those ops — and says so in `unchecked`.
 */
function planGated(view: GraphView, consts: ConstantValues, tree: ReturnType<typeof collectTree>, ups: DenseMatch[], down: DenseMatch):
    MlpMatch | null {
  const actNodes = tree.nodes.filter(n => n.op in ACTIVATION_OPS);
  const kinds = new Set(actNodes.map(n => ACTIVATION_OPS[n.op]));
  if (kinds.size !== 1) return null;
  const activation = [...kinds][0];
  for (const [gate, up] of [[ups[0], ups[1]], [ups[1], ups[0]]]) {
    const gateKey = key(view, gate.output);
    const readsGateOnly = actNodes.every(n => {
      const leaves = collectTree(view, consts, refOf(n), null, 40).leaves;
      return leaves.length === 1 && key(view, leaves[0]) === gateKey;
    });
    if (!readsGateOnly) continue;
    return {up, gate, down, activation, nodes: tree.nodes, unchecked: [
      `the gated feed-forward block computes ${activation}(gate) · up: not checkable without weights (the formula's constants are in the weight files)`,
    ]};
  }
  return null;
}

export function matchMlp(view: GraphView, consts: ConstantValues, input: InputRef, excluded: DenseMatch[]): MatchResult<MlpMatch> {
  const exclude = new Set(excluded.map(d => key(view, d.output)));
  const ups = densesReading(view, consts, input).filter(d => !exclude.has(key(view, d.output)));
  if (ups.length === 0 || ups.length > 2) return refused(`${ups.length} projections read the MLP input (1, or 2 for a gated MLP, expected)`);
  for (const d of ups) exclude.add(key(view, d.output));
  if (ups.length === 1 && ups[0].fusedActivation) {
    if (ups[0].fusedActivation !== 'Relu') return refused(`unsupported fused activation ${ups[0].fusedActivation}`);
    const down = downProjection(view, consts, [ups[0].output], exclude) ?? densesReading(view, consts, ups[0].output)[0];
    if (!down) return refused('no down projection after the MLP activation');
    return matched({up: ups[0], gate: null, down, activation: 'relu', nodes: []});
  }
  const down = downProjection(view, consts, ups.map(d => d.output), exclude);
  if (!down) return refused('no down projection after the MLP activation');
  const tree = collectTree(view, consts, down.input, null, 40);
  const leafKeys = new Set(tree.leaves.map(l => key(view, l)));
  const upKeys = ups.map(d => key(view, d.output));
  if (leafKeys.size !== ups.length || !upKeys.every(k => leafKeys.has(k))) {
    return refused('the MLP activation reads tensors other than its projections');
  }
  if (ups.length === 1) {
    const activation = identify(view, consts, down.input, ups[0].output, null);
    if (!activation) return refused('the MLP activation is not GELU (erf or tanh), ReLU or SiLU');
    return matched({up: ups[0], gate: null, down, activation, nodes: tree.nodes});
  }
  for (const [gate, up] of [[ups[0], ups[1]], [ups[1], ups[0]]]) {
    const activation = identify(view, consts, down.input, gate.output, up.output);
    if (activation) return matched({up, gate, down, activation, nodes: tree.nodes});
  }
  const planned = consts.haveValues ? null : planGated(view, consts, tree, ups, down);
  if (planned) return matched(planned);
  return refused('the gated MLP does not compute act(gate) · up for a supported activation');
}
