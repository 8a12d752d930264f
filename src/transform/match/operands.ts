/**
 * Small structural helpers shared by the matchers: op families, the two
 * operands of a commutative binary op, and scalar-shaped constants.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrShape, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';

export const MATMUL_OPS = new Set(['BatchMatMulV2', 'BatchMatMul', 'BatchMatMulV3', 'MatMul']);
export const ADD_OPS = new Set(['AddV2', 'Add']);
export const DIV_OPS = new Set(['RealDiv', 'Div']);

export interface Operand {
  ref: InputRef;
  node: NodeDef | undefined;
}

export function operand(view: GraphView, node: NodeDef, i: number): Operand | undefined {
  const ref = view.resolvedInput(node, i);
  return ref ? {ref, node: view.node(ref.node)} : undefined;
}

export function operands(view: GraphView, node: NodeDef): Operand[] {
  return view.dataInputs(node).map((_, i) => operand(view, node, i)).filter((o): o is Operand => o !== undefined);
}

/** A Const whose recorded shape has one element (a scalar or [1], [1,1], ...). */
export function isScalarConst(view: GraphView, consts: ConstantValues, ref: InputRef | undefined): boolean {
  if (!ref || !consts.isConst(ref)) return false;
  const node = view.resolve(ref).node;
  const shape = attrShape(node?.attr?.['value']);
  if (shape) return shape.every(d => d === 1);
  const value = consts.value(ref);
  return value !== undefined && value.data.length === 1;
}

/** For a commutative op: the operand matching `pred` and the other one. */
export function splitOperands(
    view: GraphView, node: NodeDef, pred: (o: Operand) => boolean): {hit: Operand; other: Operand} | undefined {
  const ops = operands(view, node);
  if (ops.length !== 2) return undefined;
  if (pred(ops[0])) return {hit: ops[0], other: ops[1]};
  if (pred(ops[1])) return {hit: ops[1], other: ops[0]};
  return undefined;
}

export function sameRef(a: InputRef | undefined, b: InputRef | undefined): boolean {
  return !!a && !!b && a.node === b.node && a.output === b.output;
}
