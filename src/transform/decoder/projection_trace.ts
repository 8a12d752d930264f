/**
 * From an operand of a decoder's attention (q, k or v as the scores or output
 * product reads it) back to the dense projection that made it. What lies in
 * between is recorded, not rewritten: head splits and merges (Reshape,
 * Transpose, ExpandDims), grouped-query repeats (Tile, BroadcastTo), scalar
 * scales, a Split of a packed QKV projection, the rotary embedding
 * (x·cos + rotate(x)·sin, possibly on a slice, concatenated with the rest) and
 * a concatenated past (the past-key-values export form). The walk follows only
 * tensors that carry token values (TokenDependence): cos/sin tables and masks
 * are side inputs whose values the recogniser reads by running the graph.
 * Whether the recorded pieces compute what the fused op computes is checked
 * afterwards by running both on probe prompts.
 */
import {ConstantValues} from '../graph/constant_values';
import {InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {DenseMatch, matchDense} from '../match/dense';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, isScalarConst, operands} from '../match/operands';
import {TokenDependence} from './token_dependence';

export interface RotarySideInputs {
  /** The cos and sin tensors the rotation multiplies by (token-independent). */
  cos: InputRef;
  sin: InputRef;
}

export interface ProjectionTrace {
  dense: DenseMatch;
  /** Output index of a Split (or SplitV) of a packed projection, else null. */
  splitIndex: number | null;
  /** The product of the scalar factors met on the way (1 when none). */
  scale: number;
  rotary: RotarySideInputs | null;
  /** A past concatenated in front of the new rows (ConcatV2 with a non-token operand). */
  past: InputRef | null;
  nodes: NodeDef[];
}

const LAYOUT_OPS = new Set(['Reshape', 'Transpose', 'ExpandDims', 'Squeeze', 'Tile', 'BroadcastTo', 'Identity',
  'StridedSlice', 'Slice']);
const MAX_STEPS = 40;

function refOf(node: NodeDef, output = 0): InputRef {
  return {node: node.name, output, control: false};
}

export function traceProjection(view: GraphView, consts: ConstantValues, tokens: TokenDependence, start: InputRef):
    MatchResult<ProjectionTrace> {
  let ref = start;
  let scale = 1;
  let splitIndex: number | null = null;
  let rotary: RotarySideInputs | null = null;
  let past: InputRef | null = null;
  const nodes: NodeDef[] = [];
  const carries = (r: InputRef) => tokens.carriesTokens(view.resolve(r).ref.node);
  for (let step = 0; step < MAX_STEPS; step++) {
    const resolved = view.resolve(ref);
    const node = resolved.node;
    if (!node) return refused(`'${ref.node}' has no producer`);
    const dense = matchDense(view, consts, resolved.ref);
    if (dense.ok && carries(dense.value.input)) {
      return matched({dense: dense.value, splitIndex, scale, rotary, past, nodes});
    }
    nodes.push(node);
    const ops = operands(view, node);
    if (LAYOUT_OPS.has(node.op)) {
      ref = ops[0].ref;
      continue;
    }
    if (node.op === 'Split' || node.op === 'SplitV') {
      if (splitIndex !== null) return refused(`two splits on the way to a projection ('${node.name}')`);
      splitIndex = resolved.ref.output;
      ref = ops[node.op === 'Split' ? 1 : 0].ref;
      continue;
    }
    if (node.op === 'Mul' || node.op === 'RealDiv' || node.op === 'Div') {
      const constant = ops.find(o => isScalarConst(view, consts, o.ref));
      if (constant) {
        const value = consts.uniformScalar(constant.ref);
        if (value === undefined || !Number.isFinite(value)) return refused(`the scale '${constant.ref.node}' is not known`);
        scale *= node.op === 'Mul' ? value : 1 / value;
        ref = ops.find(o => o !== constant)?.ref ?? ops[0].ref;
        continue;
      }
      return refused(`'${node.name}' (${node.op}) multiplies by a tensor on the way to the projection`);
    }
    if (ADD_OPS.has(node.op) && ops.length === 2 && ops.every(o => o.node?.op === 'Mul')) {
      // x·cos + rotate(x)·sin: in each product one factor carries tokens, the other is the table.
      const sides = ops.map(o => operands(view, o.node as NodeDef)).map(factors => ({
        data: factors.find(f => carries(f.ref)), table: factors.find(f => !carries(f.ref)),
      }));
      if (sides.some(s => !s.data || !s.table)) return refused(`'${node.name}' adds products that are not a rotary embedding`);
      if (rotary) return refused(`two rotary embeddings on the way to a projection ('${node.name}')`);
      // cos multiplies x itself; sin multiplies the rotated copy, built with a Neg.
      const rotatedFirst = subgraphHasNeg(view, (sides[0].data as {ref: InputRef}).ref);
      const [cosSide, sinSide] = rotatedFirst ? [sides[1], sides[0]] : [sides[0], sides[1]];
      rotary = {cos: (cosSide.table as {ref: InputRef}).ref, sin: (sinSide.table as {ref: InputRef}).ref};
      ref = (cosSide.data as {ref: InputRef}).ref;
      continue;
    }
    if (node.op === 'ConcatV2' || node.op === 'Concat') {
      const values = node.op === 'ConcatV2' ? ops.slice(0, -1) : ops.slice(1);
      const carrying = values.filter(o => carries(o.ref));
      const others = values.filter(o => !carries(o.ref) && !isScalarConst(view, consts, o.ref));
      if (carrying.length === 1 && others.length === 1) {
        // The past-key-values form: concat(past, new) along the sequence.
        if (past) return refused(`two concatenated pasts on the way to a projection ('${node.name}')`);
        past = others[0].ref;
        ref = carrying[0].ref;
        continue;
      }
      if (carrying.length >= 2 && others.length === 0) {
        // A partial rotary embedding: concat(rotated slice, untouched slice) of the same projection.
        const parts = carrying.map(o => traceProjection(view, consts, tokens, o.ref));
        const failed = parts.find(p => !p.ok);
        if (failed && !failed.ok) return failed;
        const traces = parts.map(p => (p as {ok: true; value: ProjectionTrace}).value);
        const output = (t: ProjectionTrace) => view.resolve(t.dense.output).ref.node;
        if (traces.some(t => output(t) !== output(traces[0]) || t.splitIndex !== traces[0].splitIndex || t.past)) {
          return refused(`'${node.name}' concatenates slices of different projections`);
        }
        const rotated = traces.filter(t => t.rotary);
        if (rotated.length !== 1 || rotary) return refused(`'${node.name}' concatenates slices that are not one partial rotary embedding`);
        if (traces.some(t => t.scale !== 1)) return refused(`'${node.name}' concatenates scaled slices`);
        return matched({dense: traces[0].dense, splitIndex: splitIndex ?? traces[0].splitIndex, scale, rotary: rotated[0].rotary,
          past, nodes: [...nodes, ...traces.flatMap(t => t.nodes)]});
      }
      return refused(`'${node.name}' concatenates tensors on the way to the projection in a way not understood`);
    }
    if (node.op === 'Cast') {
      ref = ops[0].ref;
      continue;
    }
    return refused(`'${node.name}' (${node.op}) between the attention and its projection`);
  }
  return refused(`no projection within ${MAX_STEPS} nodes of '${start.node}'`);
}

/** Whether a Neg is among the few nodes below `ref` (the rotated copy of rotate-half / rotate-every-two). */
function subgraphHasNeg(view: GraphView, ref: InputRef): boolean {
  const stack = [ref];
  const seen = new Set<string>();
  while (stack.length > 0 && seen.size < 16) {
    const node = view.resolve(stack.pop() as InputRef).node;
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (node.op === 'Neg') return true;
    if (!['Reshape', 'Pack', 'ConcatV2', 'StridedSlice', 'Identity', 'Transpose', 'Mul', 'Sub'].includes(node.op)) continue;
    for (const input of view.dataInputs(node)) stack.push(input);
  }
  return false;
}

export {refOf};
