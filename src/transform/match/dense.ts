/**
 * A dense projection y = x·W + b on the last axis, in the forms the converter
 * emits: MatMul + BiasAdd (2-D), the Tensordot expansion (Reshape → MatMul →
 * Reshape, with the shape computed by Shape/GatherV2/Prod/Pack), _FusedMatMul
 * with a fused BiasAdd, Einsum 'abc,cd->abd', and a bias added by AddV2.
 */
import {decodeBase64Text} from '../graph/base64_text';
import {ConstantValues} from '../graph/constant_values';
import {attrBool, attrShape, attrString, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS, operands} from './operands';

export interface DenseMatch {
  input: InputRef;
  /** The product's own input (before looking through Tensordot's flattening Reshape). */
  productInput: InputRef;
  /** [in, out] unless `weightTransposed` ([out, in]). */
  weight: InputRef;
  weightTransposed: boolean;
  bias: InputRef | null;
  /** An activation fused into _FusedMatMul, if any. */
  fusedActivation: string | null;
  /**
   * Set for Einsum projections over head axes (Keras' EinsumDense: kernel
   * [E, H, D] or [H, D, E]): the kernel is read as [in, out] after flattening
   * the contracted and the produced axes, which row-major order makes exact.
   */
  flattenedKernel: {inAxes: number; outAxes: number} | null;
  nodes: NodeDef[];
  output: InputRef;
}

function fusedOps(node: NodeDef): string[] {
  return (node.attr?.['fused_ops']?.list?.s ?? []).map(decodeBase64Text);
}

function constShape(view: GraphView, consts: ConstantValues, ref: InputRef): number[] | undefined {
  return attrShape(view.resolve(ref).node?.attr?.['value']) ?? consts.value(ref)?.shape;
}

/** A bias: a constant of rank 1, or rank 2 for per-head biases ([H, D]) of Einsum projections. */
function isVectorConst(view: GraphView, consts: ConstantValues, ref: InputRef | undefined): boolean {
  const rank = ref && consts.isConst(ref) ? constShape(view, consts, ref)?.length : undefined;
  return rank === 1 || rank === 2;
}

/**
 * An Einsum that is a projection of trailing axes: x[..., c…] · w[c…, n…] →
 * out[..., n…] with the contracted axes last in x and in the same order in w.
 */
function einsumProjection(equation: string): {inAxes: number; outAxes: number} | null {
  const m = /^([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)$/.exec(equation.replace(/\s/g, ''));
  if (!m) return null;
  const [, x, w, out] = m;
  const contracted = [...w].filter(c => x.includes(c) && !out.includes(c)).join('');
  const produced = [...w].filter(c => out.includes(c) && !x.includes(c)).join('');
  if (contracted.length + produced.length !== w.length || w !== contracted + produced) return null;
  const lead = x.slice(0, x.length - contracted.length);
  if (!x.endsWith(contracted) || out !== lead + produced || lead.length === 0) return null;
  return {inAxes: contracted.length, outAxes: produced.length};
}

export function matchDense(view: GraphView, consts: ConstantValues, output: InputRef): MatchResult<DenseMatch> {
  const nodes: NodeDef[] = [];
  let node = view.resolve(output).node;
  let bias: InputRef | null = null;
  if (!node) return refused('missing producer');
  if (node.op === 'BiasAdd' || (ADD_OPS.has(node.op) && operands(view, node).some(o => isVectorConst(view, consts, o.ref)))) {
    const ops = operands(view, node);
    const b = ops.find(o => isVectorConst(view, consts, o.ref));
    const rest = ops.find(o => o !== b);
    if (!b || !rest) return refused(`bias addition '${node.name}' has no constant bias`);
    bias = b.ref;
    nodes.push(node);
    node = rest.node;
  }
  if (node?.op === 'Reshape') {
    nodes.push(node);
    node = view.producer(node, 0);
  }
  if (!node) return refused('missing projection');
  if (node.op === '_FusedMatMul') {
    const fused = fusedOps(node);
    if (fused[0] !== 'BiasAdd' || fused.length > 2 || bias) return refused(`_FusedMatMul '${node.name}' fuses ${fused.join('+')}`);
    if (attrBool(node, 'transpose_a')) return refused(`_FusedMatMul '${node.name}' transposes its input`);
    const [x, w, b] = [0, 1, 2].map(i => view.resolvedInput(node as NodeDef, i));
    if (!x || !w || !b || !consts.isConst(w) || !consts.isConst(b)) return refused(`_FusedMatMul '${node.name}' has non-constant weights`);
    nodes.push(node);
    return finish(view, x, w, attrBool(node, 'transpose_b'), b, fused[1] ?? null, nodes, output);
  }
  if (node.op === 'MatMul' || node.op === 'BatchMatMulV2' || node.op === 'BatchMatMul') {
    if (attrBool(node, 'transpose_a') || attrBool(node, 'adj_x')) return refused(`projection '${node.name}' transposes its input`);
    const x = view.resolvedInput(node, 0);
    const w = view.resolvedInput(node, 1);
    if (!x || !w || !consts.isConst(w)) return refused(`projection '${node.name}' has no constant weight`);
    if (constShape(view, consts, w)?.length !== 2) return refused(`projection '${node.name}' weight is not 2-D`);
    if (bias && constShape(view, consts, bias)?.length !== 1) return refused(`projection '${node.name}' bias is not 1-D`);
    nodes.push(node);
    return finish(view, x, w, attrBool(node, 'transpose_b') || attrBool(node, 'adj_y'), bias, null, nodes, output);
  }
  if (node.op === 'Einsum') {
    const eq = attrString(node, 'equation') ?? '';
    const projection = einsumProjection(eq);
    const w = view.resolvedInput(node, 1);
    const x = view.resolvedInput(node, 0);
    if (!projection || !w || !x || !consts.isConst(w)) return refused(`Einsum '${eq}' is not a projection of trailing axes`);
    nodes.push(node);
    const flattened = projection.inAxes === 1 && projection.outAxes === 1 ? null : projection;
    return finish(view, x, w, false, bias, null, nodes, output, flattened);
  }
  return refused(`'${node.name}' (${node.op}) is not a dense projection`);
}

function finish(view: GraphView, x: InputRef, w: InputRef, transposed: boolean, bias: InputRef | null,
    fusedActivation: string | null, nodes: NodeDef[], output: InputRef,
    flattenedKernel: DenseMatch['flattenedKernel'] = null): MatchResult<DenseMatch> {
  // Tensordot flattens the input to 2-D first: read through that Reshape.
  let input = x;
  const xNode = view.node(x.node);
  if (xNode?.op === 'Reshape') {
    nodes.push(xNode);
    input = view.resolvedInput(xNode, 0) as InputRef;
  }
  return matched({input, productInput: x, weight: w, weightTransposed: transposed, bias, fusedActivation, flattenedKernel, nodes, output});
}

const PROJECTION_OPS = new Set(['MatMul', 'BatchMatMulV2', 'BatchMatMul', '_FusedMatMul', 'Einsum']);

/**
 * Every dense layer (plain, Tensordot or _FusedMatMul form) whose input is
 * `input`: the products reading it (directly or through Tensordot's
 * flattening Reshape), each grown forward over its bias and reshape.
 */
export function densesReading(view: GraphView, consts: ConstantValues, input: InputRef): DenseMatch[] {
  const key = (ref: InputRef) => formatInputRef(view.resolve(ref).ref);
  const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});
  const products: NodeDef[] = [];
  const visit = (name: string, depth: number): void => {
    for (const c of view.realConsumers(name)) {
      if (PROJECTION_OPS.has(c.node.op) && c.inputIndex === 0) products.push(c.node);
      else if (c.node.op === 'Reshape' && depth < 2) visit(c.node.name, depth + 1);
    }
  };
  visit(view.resolve(input).ref.node, 0);
  const found: DenseMatch[] = [];
  for (const product of products) {
    let best: DenseMatch | null = null;
    let frontier: NodeDef[] = [product];
    for (let step = 0; step < 3 && frontier.length > 0; step++) {
      const next: NodeDef[] = [];
      for (const node of frontier) {
        const d = matchDense(view, consts, refOf(node));
        if (d.ok && (key(d.value.input) === key(input) || key(d.value.productInput) === key(input))) best = d.value;
        for (const c of view.realConsumers(node.name)) if (['Reshape', 'BiasAdd', 'AddV2', 'Add'].includes(c.node.op)) next.push(c.node);
      }
      frontier = next;
    }
    if (best) found.push(best);
  }
  return found;
}
