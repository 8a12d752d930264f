/**
 * Splitting a [B, S, H·D] projection into heads ([B, H, S, D]: Reshape to
 * [B, S, H, D], Transpose [0, 2, 1, 3]) and merging them back; also the
 * fused-QKV form where one projection is Split into three before the reshape.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrInt, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from './match_result';
import {isScalarConst, operands} from './operands';

export interface HeadSplit {
  /** The [B, S, H·D] tensor before the split (after any Split of a fused QKV projection). */
  projected: InputRef;
  /** Present when `projected` is one output of a Split of a fused QKV projection. */
  split: {node: NodeDef; index: number; source: InputRef} | null;
  /** A constant q is multiplied (or divided) by, before or after the split. */
  scale: {ref: InputRef; divide: boolean} | null;
  heads?: number;
  headDim?: number;
  nodes: NodeDef[];
}

function checkPerm(consts: ConstantValues, ref: InputRef | undefined): boolean {
  const perm = consts.ints(ref);
  return perm === undefined || perm.join(',') === '0,2,1,3';
}

/** The last two entries of a Reshape's target shape (a Const, or a Pack of scalars). */
function headShape(view: GraphView, consts: ConstantValues, shapeRef: InputRef | undefined): [number?, number?] {
  if (!shapeRef) return [];
  const values = consts.ints(shapeRef);
  if (values) return values.length === 4 ? [values[2], values[3]] : [Number.NaN, Number.NaN];
  const pack = view.resolve(shapeRef).node;
  if (pack?.op === 'Pack') {
    const ins = view.dataInputs(pack);
    if (ins.length !== 4) return [Number.NaN, Number.NaN];
    return [consts.uniformScalar(ins[2]), consts.uniformScalar(ins[3])];
  }
  return [];
}

/** A Mul or RealDiv of `ref` by a scalar constant: the other operand and the constant. */
export function scalarScaling(view: GraphView, consts: ConstantValues, node: NodeDef | undefined):
    {rest: InputRef; scale: {ref: InputRef; divide: boolean}} | null {
  if (!node) return null;
  const ops = operands(view, node);
  if (node.op === 'Mul') {
    const c = ops.find(o => isScalarConst(view, consts, o.ref));
    const rest = ops.find(o => o !== c);
    return c && rest ? {rest: rest.ref, scale: {ref: c.ref, divide: false}} : null;
  }
  if ((node.op === 'RealDiv' || node.op === 'Div') && ops.length === 2 && isScalarConst(view, consts, ops[1].ref)) {
    return {rest: ops[0].ref, scale: {ref: ops[1].ref, divide: true}};
  }
  return null;
}

export function matchHeadSplit(view: GraphView, consts: ConstantValues, ref: InputRef): MatchResult<HeadSplit> {
  let scale: HeadSplit['scale'] = null;
  const nodes: NodeDef[] = [];
  const after = scalarScaling(view, consts, view.resolve(ref).node);
  if (after) {
    nodes.push(view.resolve(ref).node as NodeDef);
    scale = after.scale;
    ref = after.rest;
  }
  const transpose = view.resolve(ref).node;
  if (transpose?.op !== 'Transpose') return refused(`'${ref.node}' is not a head transpose`);
  if (!checkPerm(consts, view.resolvedInput(transpose, 1))) return refused(`'${transpose.name}' does not permute to [B, H, S, D]`);
  const reshape = view.producer(transpose, 0);
  if (reshape?.op !== 'Reshape') return refused(`'${transpose.name}' does not read a head reshape`);
  const [heads, headDim] = headShape(view, consts, view.resolvedInput(reshape, 1));
  if (Number.isNaN(heads) || Number.isNaN(headDim)) return refused(`'${reshape.name}' does not reshape to [B, S, H, D]`);
  nodes.push(transpose, reshape);
  let projected = view.resolvedInput(reshape, 0) as InputRef;
  const before = scale ? null : scalarScaling(view, consts, view.node(projected.node));
  if (before) {
    nodes.push(view.node(projected.node) as NodeDef);
    scale = before.scale;
    projected = before.rest;
  }
  let split: HeadSplit['split'] = null;
  const splitNode = view.node(projected.node);
  if (splitNode && (splitNode.op === 'Split' || splitNode.op === 'SplitV')) {
    const num = attrInt(splitNode, 'num_split');
    if (num !== 3) return refused(`'${splitNode.name}' splits into ${num} parts, not q, k, v`);
    const source = view.resolvedInput(splitNode, splitNode.op === 'Split' ? 1 : 0) as InputRef;
    split = {node: splitNode, index: projected.output, source};
  }
  return matched({projected, split, scale, heads, headDim, nodes});
}

/** Follows [B, H, S, Dv] → Transpose [0, 2, 1, 3] → Reshape [B, S, H·Dv] forward; returns the merged tensor. */
export function matchHeadMerge(view: GraphView, consts: ConstantValues, product: NodeDef): MatchResult<{merged: InputRef; nodes: NodeDef[]}> {
  // Shape reads (sizes for the reshapes) do not count as uses of the values.
  const valueReaders = (name: string) => view.realConsumers(name).filter(c => c.node.op !== 'Shape');
  const consumers = valueReaders(product.name);
  if (consumers.length !== 1 || consumers[0].node.op !== 'Transpose') return refused('the attention output is not transposed back to [B, S, H, D]');
  const transpose = consumers[0].node;
  if (!checkPerm(consts, view.resolvedInput(transpose, 1))) return refused(`'${transpose.name}' does not permute back to [B, S, H, D]`);
  const next = valueReaders(transpose.name);
  if (next.length !== 1 || next[0].node.op !== 'Reshape') return refused('the heads are not merged by a Reshape');
  return matched({merged: {node: next[0].node.name, output: 0, control: false}, nodes: [transpose, next[0].node]});
}
