/**
 * Grows a matched attention core into a whole transformer encoder layer:
 * q/k/v projections of one input (separate, or one projection Split in
 * three), head split/merge, output projection, residual, LayerNorm, the
 * feed-forward pair with its activation, residual, LayerNorm — post-norm
 * (BERT) or pre-norm (ViT, CLIP, Whisper). The attention mask must be a
 * padding mask from a model input (or absent).
 */
import type {EncoderActivation} from '../../op_table';
import {ConstantValues} from '../graph/constant_values';
import {attrShape, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matchActivation} from './activation';
import {AttentionCore} from './attention_core';
import {DenseMatch, densesReading, matchDense} from './dense';
import {collectTree, ELEMENTWISE_OPS, isClosedOver} from './elementwise_tree';
import {HeadSplit, matchHeadMerge, matchHeadSplit, scalarScaling} from './head_split';
import {LayerNormMatch, matchLayerNorm} from './layer_norm';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS, operands} from './operands';
import {matchPaddingMask, PaddingMaskMatch} from './padding_mask';
import {matchMlp} from '../decoder/mlp_match';
import {matchRmsNorm} from '../decoder/norm_site';
import {ENCODER_ACTIVATIONS} from '../../op_table';

/** A LayerNorm, or an RMSNorm (T5: no mean subtracted, no beta). */
export interface EncoderNorm {
  kind: 'layer' | 'rms';
  input: InputRef;
  /** Null: an RMSNorm whose gamma of ones the converter folded away (times `scale` when one was folded in). */
  gamma: InputRef | null;
  scale?: number;
  beta: InputRef | null;
  /** Known when weights are available. */
  eps?: number;
  nodes: NodeDef[];
  output?: InputRef;
}

export interface EncoderLayerMatch {
  core: AttentionCore;
  normFirst: boolean;
  input: InputRef;
  output: InputRef;
  qkv: {q: DenseMatch; k: DenseMatch; v: DenseMatch} | {packed: DenseMatch};
  qScale: {ref: InputRef; divide: boolean} | null;
  heads?: number;
  headDim?: number;
  outProj: DenseMatch;
  ffnIn: DenseMatch;
  /** The gate projection of a gated MLP (T5 v1.1: act(gate(x)) · ffnIn(x)); null for up · act · down. */
  gate: DenseMatch | null;
  ffnOut: DenseMatch;
  activation: EncoderActivation;
  /** Both norms of the layer are of this kind. */
  normKind: 'layer' | 'rms';
  ln1: EncoderNorm;
  ln2: EncoderNorm;
  padding: PaddingMaskMatch | null;
  /** A learned position bias [1 or B, H, S, S] added to every score (T5's compute_bias output), computed outside the layer. */
  attentionBias: InputRef | null;
  /**
   * Without weights (`inspect`): what the match assumed because checking it needs constant values (the core's
   * causal band, the padding mask's tile, the gated MLP's formula). Absent when nothing was assumed.
   */
  unchecked?: string[];
  /**
   * Shape nodes outside the layer reading a tensor inside it that has the
   * layer input's shape (T5 sizes its position bias from the normed input):
   * the rewrite points them at the layer input.
   */
  shapeReaders: NodeDef[];
  interior: NodeDef[];
}

function fromLayerNorm(ln: LayerNormMatch & {output?: InputRef}): EncoderNorm {
  return {kind: 'layer', input: ln.input, gamma: ln.gamma, beta: ln.beta, eps: ln.eps, nodes: ln.nodes, output: ln.output};
}

/**
 * Without weights (planning only): an RMSNorm by structure — the mean of a
 * square, its root, no mean subtracted, a vector constant multiplied in.
 */
function rmsStructure(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<EncoderNorm> | null {
  const wide = collectTree(view, consts, output, null, 40);
  const mean = wide.nodes.find(n => n.op === 'Mean');
  const square = mean ? view.producer(mean, 0) : undefined;
  if (!mean || square?.op !== 'Square' || !wide.nodes.some(n => n.op === 'Rsqrt' || n.op === 'Sqrt') ||
      wide.nodes.some(n => n.op === 'Sub' || n.op === 'SquaredDifference')) return null;
  const input = view.resolvedInput(square, 0) as InputRef;
  const tree = collectTree(view, consts, output, input);
  if (!isClosedOver(tree, input, view)) return null;
  const gamma = tree.constants.find(c => {
    const shape = attrShape(view.resolve(c).node?.attr?.['value']);
    return shape?.length === 1 && tree.nodes.some(n => n.op === 'Mul' && view.dataInputs(n).some(r => view.resolve(r).ref.node === c.node));
  });
  return gamma ? matched({kind: 'rms', input, gamma, beta: null, nodes: tree.nodes, output}) : null;
}

/** The LayerNorm or RMSNorm whose output is `output` (the LayerNorm's reason when neither matches). */
function matchNorm(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<EncoderNorm> {
  const ln = matchLayerNorm(view, consts, output);
  if (ln.ok) return matched(fromLayerNorm(ln.value));
  if (!consts.haveValues) return rmsStructure(view, consts, output) ?? ln;
  const rms = matchRmsNorm(view, consts, output);
  if (rms.ok) {
    const r = rms.value;
    return matched({kind: 'rms', input: r.input, gamma: r.gamma, ...(r.scale !== undefined ? {scale: r.scale} : {}), beta: null,
      eps: r.eps, nodes: r.nodes, output});
  }
  return ln;
}

const key = (view: GraphView, ref: InputRef) => formatInputRef(view.resolve(ref).ref);
const same = (view: GraphView, a: InputRef, b: InputRef) => key(view, a) === key(view, b);
const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});

/** The residual addition reading `branch`; returns it and its other operand. */
function residualAdd(view: GraphView, branch: InputRef): {add: NodeDef; other: InputRef} | null {
  for (const c of view.realConsumers(view.resolve(branch).ref.node)) {
    if (!ADD_OPS.has(c.node.op)) continue;
    const ops = operands(view, c.node);
    const other = ops.find(o => !same(view, o.ref, branch));
    if (ops.length === 2 && other) return {add: c.node, other: other.ref};
  }
  return null;
}

/**
 * The LayerNorm whose input is `input`, searched forward through elementwise
 * consumers; else why not (`where` names the place, and a LayerNorm whose
 * structure matched but whose constants did not says so).
 */
function layerNormAfter(view: GraphView, consts: ConstantValues, input: InputRef, where: string): MatchResult<EncoderNorm> {
  const frontier = [view.resolve(input).ref.node];
  const seen = new Set<string>();
  let best: {ln: EncoderNorm; root: InputRef} | null = null;
  let valueRefusal: string | null = null;
  while (frontier.length > 0 && seen.size < 40) {
    const name = frontier.shift() as string;
    for (const c of view.realConsumers(name)) {
      if (seen.has(c.node.name) || !ELEMENTWISE_OPS.has(c.node.op)) continue;
      seen.add(c.node.name);
      frontier.push(c.node.name);
      const m = matchNorm(view, consts, refOf(c.node));
      if (m.ok && same(view, m.value.input, input) && (!best || m.value.nodes.length > best.ln.nodes.length)) {
        best = {ln: m.value, root: refOf(c.node)};
      } else if (!m.ok && !valueRefusal && /^LayerNorm (constants|epsilon)|does not compute LayerNorm/.test(m.reason)) {
        valueRefusal = m.reason;  // the structure is a LayerNorm's; its constants are not
      }
    }
  }
  if (!best) return refused(`no LayerNorm ${where}${valueRefusal ? ` (${valueRefusal})` : ''}`);
  return matched({...best.ln, output: best.root});
}

function lnOutput(ln: EncoderNorm): InputRef {
  return ln.output ?? refOf(ln.nodes[0]);
}

/** Keras' EinsumDense projections straight to [B, S, H, D] (kernel [E, H, D]); q may be scaled. */
function matchEinsumProjections(view: GraphView, consts: ConstantValues, core: AttentionCore):
    MatchResult<{qkv: EncoderLayerMatch['qkv']; source: InputRef; split: HeadSplit[]; qScale: HeadSplit['scale']; nodes: NodeDef[]}> {
  const nodes: NodeDef[] = [];
  let qScale: HeadSplit['scale'] = null;
  let qRef = core.q;
  const scaled = scalarScaling(view, consts, view.resolve(core.q).node);
  if (scaled) {
    nodes.push(view.resolve(core.q).node as NodeDef);
    qScale = scaled.scale;
    qRef = scaled.rest;
  }
  const dense: DenseMatch[] = [];
  for (const ref of [qRef, core.k, core.v]) {
    const d = matchDense(view, consts, ref);
    if (!d.ok) return refused(`q/k/v projection: ${d.reason}`);
    if (d.value.flattenedKernel?.inAxes !== 1 || d.value.flattenedKernel.outAxes !== 2) return refused('q/k/v projections do not produce [B, S, H, D]');
    dense.push(d.value);
  }
  const [q, k, v] = dense;
  if (!same(view, q.input, k.input) || !same(view, k.input, v.input)) return refused('q, k and v are projections of different tensors (cross-attention, or bottleneck projections)');
  const kernel = attrShape(view.resolve(q.weight).node?.attr?.['value']) ?? consts.value(q.weight)?.shape;
  const split: HeadSplit = {projected: q.output, split: null, scale: qScale, heads: kernel?.[1], headDim: kernel?.[2], nodes: []};
  return matched({qkv: {q, k, v}, source: q.input, split: [split], qScale, nodes});
}

function matchProjections(view: GraphView, consts: ConstantValues, core: AttentionCore):
    MatchResult<{qkv: EncoderLayerMatch['qkv']; source: InputRef; split: HeadSplit[]; qScale: HeadSplit['scale']; nodes: NodeDef[]}> {
  const splits: HeadSplit[] = [];
  for (const ref of [core.q, core.k, core.v]) {
    const s = matchHeadSplit(view, consts, ref);
    if (!s.ok) return s;
    splits.push(s.value);
  }
  const [sq, sk, sv] = splits;
  if (sk.scale || sv.scale) return refused('k or v is scaled before the attention');
  if ([core.qLayout, core.kLayout, core.vLayout, core.outLayout].some(l => l !== 'bhsd')) {
    return refused('q, k or v reach the attention in a layout other than [B, H, S, D]');
  }
  const nodes = splits.flatMap(s => s.nodes);
  if (sq.split || sk.split || sv.split) {
    if (!sq.split || !sk.split || !sv.split || sq.split.node !== sk.split.node || sk.split.node !== sv.split.node ||
        sq.split.index !== 0 || sk.split.index !== 1 || sv.split.index !== 2) {
      return refused('q, k and v are not the three parts of one Split');
    }
    const packed = matchDense(view, consts, sq.split.source);
    if (!packed.ok) return refused(`fused QKV projection: ${packed.reason}`);
    nodes.push(sq.split.node);
    return matched({qkv: {packed: packed.value}, source: packed.value.input, split: splits, qScale: sq.scale, nodes});
  }
  const dense = [sq, sk, sv].map(s => matchDense(view, consts, s.projected));
  for (const d of dense) if (!d.ok) return refused(`q/k/v projection: ${d.reason}`);
  const [q, k, v] = dense.map(d => (d as {ok: true; value: DenseMatch}).value);
  if (!same(view, q.input, k.input) || !same(view, k.input, v.input)) return refused('q, k and v are projections of different tensors (cross-attention, or bottleneck projections)');
  return matched({qkv: {q, k, v}, source: q.input, split: splits, qScale: sq.scale, nodes});
}

export function matchEncoderLayer(view: GraphView, consts: ConstantValues, core: AttentionCore): MatchResult<EncoderLayerMatch> {
  if (core.multiplicativeMasks.length > 0 && !core.isCausal) return refused('a mask multiplied into the scores that is not the causal band');
  if (core.masks.length > 1) return refused('more than one mask is added to the scores');
  let padding: PaddingMaskMatch | null = null;
  let attentionBias: InputRef | null = null;
  if (core.positionBias) {
    // T5: scores + (position_bias + mask): the bias goes to the fused layer as attentionBias, the mask as key padding.
    const pb = core.positionBias;
    if (pb.term.scaledBy.length > 0 || pb.term.sign !== 1) return refused('the position bias is scaled or subtracted after it is added');
    if (pb.masks.length > 1) return refused('more than one mask is added to the scores with the position bias');
    if (pb.masks.length === 1) {
      const p = matchPaddingMask(view, consts, pb.masks[0], 1);
      if (!p.ok) return refused(`attention mask added with the position bias: ${p.reason}`);
      padding = p.value;
    }
    attentionBias = pb.bias;
  } else if (core.masks.length === 1) {
    const p = matchPaddingMask(view, consts, core.masks[0].ref, core.masks[0].sign);
    if (!p.ok) return refused(`attention mask: ${p.reason}`);
    if (core.masks[0].scaledBy.length > 0) return refused('the padding mask is scaled after it is added');
    padding = p.value;
  }
  const keras = [core.qLayout, core.kLayout, core.vLayout, core.outLayout].every(l => l === 'bshd');
  const proj = keras ? matchEinsumProjections(view, consts, core) : matchProjections(view, consts, core);
  if (!proj.ok) return proj;
  // Keras' output projection reads [B, S, H, D] directly; otherwise the heads are merged first.
  const merge = keras ? matched({merged: refOf(core.outputNode), nodes: [] as NodeDef[]}) : matchHeadMerge(view, consts, core.outputNode);
  if (!merge.ok) return merge;
  const outProj = findDenseReading(view, consts, merge.value.merged);
  if (!outProj) return refused('no output projection after the heads are merged');

  // Post-norm when the residual adds the projections' input back; pre-norm
  // when the projections read a LayerNorm and the residual adds that LayerNorm's input.
  const res1 = residualAdd(view, outProj.output);
  if (!res1) return refused('no residual connection around the attention');
  let normFirst = false;
  let layerInput = proj.value.source;
  const preLn = same(view, res1.other, proj.value.source) ? null : matchNorm(view, consts, proj.value.source);
  if (preLn) {
    if (!preLn.ok || !same(view, res1.other, preLn.value.input)) return refused('no residual connection around the attention');
    normFirst = true;
    layerInput = preLn.value.input;
  }
  const add1 = refOf(res1.add);

  let ln1: EncoderNorm;
  let h: InputRef;
  let ffnSource: InputRef;
  if (normFirst && preLn && preLn.ok) {
    ln1 = preLn.value;
    h = add1;
    const ln2 = layerNormAfter(view, consts, h, 'before the feed-forward block');
    if (!ln2.ok) return ln2;
    ffnSource = lnOutput(ln2.value);
    return finishLayer(view, consts, core, proj.value, merge.value.nodes, outProj, res1.add, ln1, ln2.value, h, ffnSource, true, layerInput,
        padding, attentionBias);
  }
  const ln = layerNormAfter(view, consts, add1, 'after the attention residual');
  if (!ln.ok) return ln;
  ln1 = ln.value;
  h = lnOutput(ln1);
  ffnSource = h;
  return finishLayer(view, consts, core, proj.value, merge.value.nodes, outProj, res1.add, ln1, null, h, ffnSource, false, layerInput,
      padding, attentionBias);
}

/** The first dense layer (plain, Tensordot or _FusedMatMul form) that reads `input`. */
function findDenseReading(view: GraphView, consts: ConstantValues, input: InputRef): DenseMatch | null {
  return densesReading(view, consts, input)[0] ?? null;
}

function finishLayer(
    view: GraphView, consts: ConstantValues, core: AttentionCore,
    proj: {qkv: EncoderLayerMatch['qkv']; split: HeadSplit[]; qScale: HeadSplit['scale']; nodes: NodeDef[]},
    mergeNodes: NodeDef[], outProj: DenseMatch, add1: NodeDef, ln1: EncoderNorm, preLn2: EncoderNorm | null,
    h: InputRef, ffnSource: InputRef, normFirst: boolean, layerInput: InputRef, padding: PaddingMaskMatch | null,
    attentionBias: InputRef | null,
): MatchResult<EncoderLayerMatch> {
  let ffnIn = findDenseReading(view, consts, ffnSource);
  if (!ffnIn) return refused('no feed-forward projection');
  let activation: EncoderActivation;
  let actNodes: NodeDef[] = [];
  let ffnOut: DenseMatch | null = null;
  let gate: DenseMatch | null = null;
  const unchecked = [...(core.unchecked ?? []), ...(padding?.unchecked ?? [])];
  if (densesReading(view, consts, ffnSource).length === 2) {
    // Two projections of the norm's output: a gated MLP (T5 v1.1 / Flan-T5: gelu_tanh(wi_0 x) · wi_1 x).
    const mlp = matchMlp(view, consts, ffnSource, []);
    if (!mlp.ok) return refused(`gated feed-forward block: ${mlp.reason}`);
    if (!mlp.value.gate) return refused('two projections read the feed-forward input but they are not a gated pair');
    if (!(ENCODER_ACTIVATIONS as readonly string[]).includes(mlp.value.activation)) {
      return refused(`the gated feed-forward activation ${mlp.value.activation} is not one the fused layer takes`);
    }
    activation = mlp.value.activation as EncoderActivation;
    ffnIn = mlp.value.up;
    gate = mlp.value.gate;
    ffnOut = mlp.value.down;
    actNodes = mlp.value.nodes;
    unchecked.push(...(mlp.value.unchecked ?? []));
  } else if (ffnIn.fusedActivation) {
    if (ffnIn.fusedActivation !== 'Relu') return refused(`unsupported fused activation ${ffnIn.fusedActivation}`);
    activation = 'relu';
    ffnOut = findDenseReading(view, consts, ffnIn.output);
  } else {
    // The activation's output is the second projection's input: search forward
    // from the first projection through elementwise nodes for a tensor a projection reads.
    let found: {act: ReturnType<typeof matchActivation>; out: DenseMatch} | null = null;
    const frontier = [view.resolve(ffnIn.output).ref.node];
    const seen = new Set<string>();
    let lastRefusal: string | null = null;
    while (frontier.length > 0 && !found && seen.size < 40) {
      const name = frontier.shift() as string;
      for (const c of view.realConsumers(name)) {
        if (seen.has(c.node.name) || !ELEMENTWISE_OPS.has(c.node.op)) continue;
        seen.add(c.node.name);
        frontier.push(c.node.name);
        const dense = findDenseReading(view, consts, refOf(c.node));
        if (!dense) continue;
        const act = matchActivation(view, consts, refOf(c.node));
        if (act.ok && same(view, act.value.input, ffnIn.output)) {
          found = {act, out: dense};
          break;
        }
        if (!act.ok) lastRefusal = act.reason;
      }
    }
    if (!found && lastRefusal) return refused(lastRefusal);
    if (!found || !found.act.ok) return refused('no activation between the feed-forward projections');
    activation = found.act.value.kind;
    actNodes = found.act.value.nodes;
    ffnOut = found.out;
  }
  if (!ffnOut) return refused('no second feed-forward projection');
  const res2 = residualAdd(view, ffnOut.output);
  if (!res2 || !same(view, res2.other, h)) return refused('no residual connection around the feed-forward block');
  let ln2: EncoderNorm;
  let output: InputRef;
  if (normFirst) {
    ln2 = preLn2 as EncoderNorm;
    output = refOf(res2.add);
  } else {
    const ln = layerNormAfter(view, consts, refOf(res2.add), 'after the feed-forward residual');
    if (!ln.ok) return ln;
    ln2 = ln.value;
    output = lnOutput(ln.value);
  }
  const heads = proj.split[0].heads;
  const headDim = proj.split[0].headDim;
  const interior = dedupe([
    ...core.interior, ...proj.nodes, ...denseNodes(proj.qkv), ...mergeNodes, ...outProj.nodes, add1,
    ...ln1.nodes, ...ffnIn.nodes, ...(gate?.nodes ?? []), ...actNodes, ...ffnOut.nodes, res2.add, ...ln2.nodes,
  ]);
  if (ln1.kind !== ln2.kind) return refused('the layer mixes a LayerNorm and an RMSNorm');
  const match: EncoderLayerMatch = {
    core, normFirst, input: layerInput, output, qkv: proj.qkv, qScale: proj.qScale, heads, headDim,
    outProj, ffnIn, gate, ffnOut, activation, normKind: ln1.kind, ln1, ln2, padding, attentionBias, shapeReaders: [], interior,
    ...(unchecked.length ? {unchecked} : {}),
  };
  const leak = escaping(view, match);
  if (leak) return refused(leak);
  // Tensors inside the layer with the input's shape [B, S, E]: the norms' outputs and the residual sums.
  const sameShape = new Set([lnOutput(ln1), refOf(add1), ffnSource].map(r => view.resolve(r).ref.node));
  const inside = new Set(interior.map(n => n.name));
  const live = liveOutside(view, inside, attentionBias ? view.resolve(attentionBias).ref.node : null);
  for (const node of interior) {
    if (!sameShape.has(node.name)) continue;
    for (const c of view.consumers(node.name)) {
      if (isShapeOnly(c.node) && !inside.has(c.node.name) && live(c.node.name)) match.shapeReaders.push(c.node);
    }
  }
  return matched(match);
}

function denseNodes(qkv: EncoderLayerMatch['qkv']): NodeDef[] {
  return 'packed' in qkv ? qkv.packed.nodes : [...qkv.q.nodes, ...qkv.k.nodes, ...qkv.v.nodes];
}

function dedupe(nodes: NodeDef[]): NodeDef[] {
  const seen = new Set<string>();
  return nodes.filter(n => (seen.has(n.name) ? false : (seen.add(n.name), true)));
}

/** A reason when a tensor inside the layer is read outside it (other than the layer output). */
function escaping(view: GraphView, m: EncoderLayerMatch): string | null {
  const inside = new Set(m.interior.map(n => n.name));
  const outputNode = view.resolve(m.output).ref.node;
  for (const node of m.interior) {
    if (node.name === outputNode) continue;
    for (const c of view.consumers(node.name)) {
      if (!inside.has(c.node.name) && !isShapeOnly(c.node)) {
        return `'${node.name}' (${node.op}) inside the layer is also read by '${c.node.name}' (${c.node.op})`;
      }
    }
  }
  return null;
}

/**
 * Whether a node outside the layer stays needed once the layer is fused: it
 * reaches a node that is not inside the layer (nor only feeding it), or the
 * position bias the fused layer reads. Nodes that only feed the layer's
 * interior (its reshapes' sizes) are dropped with it.
 */
function liveOutside(view: GraphView, inside: Set<string>, keep: string | null): (name: string) => boolean {
  const memo = new Map<string, boolean>();
  const visit = (name: string, depth: number): boolean => {
    const known = memo.get(name);
    if (known !== undefined) return known;
    if (name === keep || depth > 64) return true;
    memo.set(name, false);  // cycles count as dead
    const readers = view.consumers(name);
    const result = readers.length === 0 || readers.some(c => !inside.has(c.node.name) && visit(c.node.name, depth + 1));
    memo.set(name, result);
    return result;
  };
  return name => visit(name, 0);
}

/** Shape computations (Tensordot's reshape sizes) only read a tensor's shape, not its values. */
function isShapeOnly(node: NodeDef): boolean {
  return node.op === 'Shape';
}
