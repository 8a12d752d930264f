/**
 * Finds the attention core around a Softmax: scores = q·kᵀ (BatchMatMul with
 * adj_y, with an explicit transpose of k, or an Einsum), scaled by constants,
 * plus additive masks, softmax over keys, times v. Everything between the
 * scores product and the output product becomes one fused attention op; q, k
 * and v stay as they are in the graph ([B, H, S, D]).
 */
import {ConstantValues} from '../graph/constant_values';
import {attrBool, attrString, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {recogniseCausalBand} from './causal_band';
import type {AttentionCore, MaskTerm, ScaleTerm} from './attention_core_types';
import {HeadLayout, outputEinsum, scoresEinsum} from './einsum_layout';
import {matched, MatchResult, refused} from './match_result';
import {ADD_OPS, DIV_OPS, isScalarConst, MATMUL_OPS, Operand, operand, operands} from './operands';

export type {AttentionCore, MaskTerm, ScaleTerm} from './attention_core_types';


function isProduct(node: NodeDef | undefined): boolean {
  return !!node && (MATMUL_OPS.has(node.op) || node.op === 'Einsum');
}

/** True when following `op` downwards (through scale/mask arithmetic) reaches the scores product. */
function reachesScores(view: GraphView, consts: ConstantValues, o: Operand | undefined, depth = 0): boolean {
  const node = o?.node;
  if (!node || depth > 8) return false;
  if (isProduct(node)) return true;
  if (node.op === 'Reshape') return reachesScores(view, consts, operand(view, node, 0), depth + 1);
  if (node.op === 'Mul' || ADD_OPS.has(node.op) || node.op === 'Sub' || DIV_OPS.has(node.op)) {
    return operands(view, node).some(x => !consts.isConst(x.ref) && reachesScores(view, consts, x, depth + 1));
  }
  return false;
}

/** A 0/1 tensor made by a comparison (Cast of a bool), possibly reshaped or sliced. */
function isZeroOneMask(view: GraphView, o: Operand | undefined): boolean {
  let node = o?.node;
  for (let guard = 0; node && guard < 8; guard++) {
    if (node.op === 'Cast') {
      const src = view.producer(node, 0);
      return !!src && ['GreaterEqual', 'Greater', 'Less', 'LessEqual', 'Equal', 'NotEqual', 'LogicalAnd'].includes(src.op);
    }
    if (!['Reshape', 'ExpandDims', 'StridedSlice', 'Slice', 'Identity'].includes(node.op)) return false;
    node = view.producer(node, 0);
  }
  return false;
}

/** `c * (1 - m)` or `(1 - m) * c` for a given 0/1 mask m. */
function isFillOfMask(view: GraphView, consts: ConstantValues, o: Operand, mask: NodeDef): boolean {
  if (o.node?.op !== 'Mul') return false;
  return operands(view, o.node).some(x => {
    if (x.node?.op !== 'Sub') return false;
    const [one, m] = operands(view, x.node);
    return !!one && !!m && isScalarConst(view, consts, one.ref) && m.node?.name === mask.name;
  });
}

export function matchAttentionCore(view: GraphView, consts: ConstantValues, softmax: NodeDef): MatchResult<AttentionCore> {
  const interior: NodeDef[] = [softmax];
  const scales: ScaleTerm[] = [];
  const masks: MaskTerm[] = [];
  const uniformAdds: NodeDef[] = [];
  const multiplicativeMasks: AttentionCore['multiplicativeMasks'] = [];
  let current = operand(view, softmax, 0);
  let scoresProduct: NodeDef | undefined;
  let pendingFillMasks: Array<{term: MaskTerm; operand: Operand}> = [];
  let positionBias: AttentionCore['positionBias'] = null;
  // [B·H, Sq, Sk] scores reshaped to [B, H, Sq, Sk] around the masks (BART): flattening Reshape first.
  const scoresReshapes: NodeDef[] = [];

  for (let guard = 0; guard < 16 && current?.node; guard++) {
    const node = current.node;
    if (isProduct(node)) {
      scoresProduct = node;
      break;
    }
    interior.push(node);
    const ops = operands(view, node);
    if (node.op === 'Reshape') {
      if (scoresReshapes.length === 2) return refused(`the scores are reshaped more than twice ('${node.name}')`);
      // Only scalars may be added to the flattened scores above the first Reshape: a mask there is [B·H, …].
      if (scoresReshapes.length === 0 && (masks.length > 0 || multiplicativeMasks.length > 0)) {
        return refused(`a mask is added to scores whose heads are flattened into the batch ('${node.name}')`);
      }
      scoresReshapes.push(node);
      current = operand(view, node, 0);
      continue;
    }
    if (node.op === 'Mul') {
      const constant = ops.find(o => isScalarConst(view, consts, o.ref));
      if (constant) {
        scales.push({node, ref: constant.ref, divide: false});
        current = ops.find(o => o !== constant);
        continue;
      }
      const scoreSide = ops.find(o => reachesScores(view, consts, o));
      const other = ops.find(o => o !== scoreSide);
      if (!scoreSide || !other) return refused(`scores are multiplied by '${node.name}' (${node.op}), not a constant`);
      const fill = pendingFillMasks.find(p => other.node && isFillOfMask(view, consts, p.operand, other.node));
      if (!other.node || !isZeroOneMask(view, other) || !fill) {
        return refused(`scores are multiplied by a tensor ('${other.ref.node}') that is not a 0/1 mask overridden by a large negative fill`);
      }
      multiplicativeMasks.push({node, band: other.ref, fill: fill.term});
      current = scoreSide;
      continue;
    }
    if (DIV_OPS.has(node.op)) {
      if (ops.length !== 2 || !isScalarConst(view, consts, ops[1].ref)) {
        return refused(`scores are divided by '${ops[1]?.ref.node ?? '?'}', which is not a constant`);
      }
      scales.push({node, ref: ops[1].ref, divide: true});
      current = ops[0];
      continue;
    }
    if (ADD_OPS.has(node.op) || node.op === 'Sub') {
      if (ops.length !== 2) return refused(`unexpected ${node.op} '${node.name}' with ${ops.length} inputs`);
      const scoreIndex = ops.findIndex(o => reachesScores(view, consts, o));
      if (scoreIndex < 0) return refused(`cannot tell the scores from the mask at '${node.name}'`);
      const other = ops[1 - scoreIndex];
      if (node.op === 'Sub' && scoreIndex === 1) return refused(`scores are subtracted from '${other.ref.node}'`);
      if (isScalarConst(view, consts, other.ref)) {
        uniformAdds.push(node);
      } else {
        const term: MaskTerm = {node, ref: other.ref, sign: node.op === 'Sub' ? -1 : 1, scaledBy: scales.slice()};
        if (other.node && isRelativePositionBias(view, other)) {
          if (positionBias) return refused('more than one term with a learned position bias is added to the scores');
          const parts = splitBiasSum(view, consts, other.ref);
          if (!parts) {
            return refused('attention bias depends on learned position weights (relative attention bias) mixed with ' +
                'other terms in a way that cannot be separated');
          }
          positionBias = {term, ...parts};
        }
        masks.push(term);
        pendingFillMasks.push({term, operand: other});
      }
      current = ops[scoreIndex];
      continue;
    }
    return refused(`unexpected ${node.op} '${node.name}' between the scores and the softmax`);
  }
  if (!scoresProduct) return refused('no q·kᵀ product below the softmax');
  if (scoresReshapes.length === 1) return refused(`the scores are reshaped once ('${scoresReshapes[0].name}'), not there and back`);
  pendingFillMasks = [];
  interior.push(scoresProduct);

  const scoreOperands = describeScores(view, scoresProduct);
  if (!scoreOperands.ok) return scoreOperands;
  const output = findOutputProduct(view, softmax, interior);
  if (!output.ok) return output;

  const core: AttentionCore = {
    softmax, scoresProduct, outputProduct: output.value.node,
    q: scoreOperands.value.q, k: scoreOperands.value.k, v: output.value.v,
    qLayout: scoreOperands.value.qLayout, kLayout: scoreOperands.value.kLayout,
    vLayout: output.value.vLayout, outLayout: output.value.outLayout,
    scales, masks, uniformAdds, multiplicativeMasks, isCausal: false, positionBias, interior, scoreShapeReaders: [],
    outputNode: output.value.node, scoresReshapes,
  };
  const flattened = unflattenHeads(view, core);
  if (flattened) return refused(flattened);
  const leak = escapingIntermediate(view, core);
  if (leak) return refused(leak);
  if (core.multiplicativeMasks.length > 0) recogniseCausalBand(view, consts, core);
  return matched(core);
}

/**
 * Products over heads flattened into the batch ([B·H, S, D], from
 * Reshape(Transpose([B, S, H, D] → [B, H, S, D]))): the fused op reads the
 * 4-D tensors before the flattening and replaces the Reshape back to 4-D.
 * Returns a reason to refuse, or null (also when heads are not flattened).
 */
function unflattenHeads(view: GraphView, core: AttentionCore): string | null {
  const fourD = (ref: InputRef): InputRef | null => {
    const reshape = view.resolve(ref).node;
    if (reshape?.op !== 'Reshape') return null;
    const inner = view.resolvedInput(reshape, 0);
    return inner && view.node(inner.node)?.op === 'Transpose' ? inner : null;
  };
  const q4 = fourD(core.q);
  const k4 = fourD(core.k);
  const v4 = fourD(core.v);
  if (!q4 && !k4 && !v4) return core.scoresReshapes.length > 0 ? 'the scores are reshaped but the heads are not flattened' : null;
  if (!q4 || !k4 || !v4 || core.kLayout !== 'bhsd' || core.vLayout !== 'bhsd') return 'heads are flattened into the batch in a layout the fused op does not read';
  // Masks are only understood where the scores were reshaped back to [B, H, Sq, Sk] to add them.
  if ((core.masks.length > 0 || core.multiplicativeMasks.length > 0) && core.scoresReshapes.length === 0) {
    return 'a mask over heads flattened into the batch';
  }
  const out = view.realConsumers(core.outputProduct.name);
  if (out.length !== 1 || out[0].node.op !== 'Reshape') return 'the flattened heads are not reshaped back to [B, H, S, D]';
  const inside = new Set(core.interior.map(n => n.name));
  for (const ref of [core.q, core.k, core.v]) {
    const node = view.resolve(ref).node as NodeDef;
    const others = view.consumers(node.name).filter(c => c.node !== core.scoresProduct && c.node !== core.outputProduct);
    // BART sizes the reshaped scores from Shape(k flattened): a shape chain only the removed Reshapes read.
    const chains = others.map(c => shapeChainInto(view, c.node, inside));
    if (chains.every(chain => chain !== null)) {
      for (const chain of chains) for (const n of chain as NodeDef[]) if (!inside.has(n.name)) { inside.add(n.name); core.interior.push(n); }
      core.interior.push(node);
    }
  }
  core.q = q4;
  core.k = k4;
  core.v = v4;
  core.outputNode = out[0].node;
  core.interior.push(out[0].node);
  return null;
}

/**
 * The nodes from `start` (a Shape) on, when every path from it only computes sizes (Shape, StridedSlice,
 * Pack, scalar arithmetic) and ends in `inside`; null otherwise.
 */
function shapeChainInto(view: GraphView, start: NodeDef, inside: Set<string>): NodeDef[] | null {
  if (start.op !== 'Shape') return null;
  const SIZE_OPS = new Set(['Shape', 'StridedSlice', 'Pack', 'Mul', 'Cast']);
  const chain: NodeDef[] = [];
  const seen = new Set<string>();
  const visit = (node: NodeDef, depth: number): boolean => {
    if (inside.has(node.name)) return true;
    if (depth > 6 || !SIZE_OPS.has(node.op)) return false;
    if (seen.has(node.name)) return true;
    seen.add(node.name);
    chain.push(node);
    const readers = view.consumers(node.name);
    return readers.length > 0 && readers.every(c => visit(c.node, depth + 1));
  };
  return visit(start, 0) ? chain : null;
}

/**
 * T5-style bias: the additive term reads a learned float table through a
 * Gather (an embedding of relative-position buckets). Shape-only inputs
 * (Shape/Size/Rank) are not followed: they carry no values.
 */
function isRelativePositionBias(view: GraphView, o: Operand): boolean {
  const seen = new Set<string>();
  const stack: Array<NodeDef | undefined> = [o.node];
  while (stack.length > 0 && seen.size < 200) {
    const node = stack.pop();
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (['Shape', 'ShapeN', 'Size', 'Rank', 'Placeholder'].includes(node.op)) continue;
    if (['GatherV2', 'Gather', 'ResourceGather'].includes(node.op)) {
      const table = view.producer(node, 0);
      const dtype = table?.attr?.['dtype']?.type;
      const rank = table?.attr?.['value']?.tensor?.tensorShape?.dim?.length;
      if (table?.op === 'Const' && dtype === 'DT_FLOAT' && rank === 2) return true;
    }
    for (const ref of view.dataInputs(node)) stack.push(view.resolve(ref).node);
  }
  return false;
}

/** Whether the values of `ref` depend on a model input's values (Shape-like reads do not count). */
function readsInputValues(view: GraphView, ref: InputRef): boolean {
  const seen = new Set<string>();
  const stack: Array<NodeDef | undefined> = [view.resolve(ref).node];
  while (stack.length > 0 && seen.size < 400) {
    const node = stack.pop();
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (node.op === 'Placeholder') return true;
    if (['Shape', 'ShapeN', 'Size', 'Rank'].includes(node.op)) continue;
    for (const r of view.dataInputs(node)) stack.push(view.resolve(r).node);
  }
  return seen.size >= 400;
}

/**
 * The additive term holding a position bias as a sum (through Add/AddV2
 * nodes): the one summand that reads the learned table and no model input's
 * values (T5's compute_bias output), the other tensors (masks) and scalar
 * constants. Null when the sum has no such single summand.
 */
function splitBiasSum(view: GraphView, consts: ConstantValues, ref: InputRef):
    {bias: InputRef; masks: InputRef[]; constants: InputRef[]} | null {
  const leaves: InputRef[] = [];
  const constants: InputRef[] = [];
  const walk = (r: InputRef, depth: number): boolean => {
    const resolved = view.resolve(r);
    const node = resolved.node;
    if (isScalarConst(view, consts, resolved.ref)) {
      constants.push(resolved.ref);
      return true;
    }
    if (node && ADD_OPS.has(node.op) && depth < 6) {
      const ops = operands(view, node);
      return ops.length === 2 && ops.every(o => walk(o.ref, depth + 1));
    }
    leaves.push(resolved.ref);
    return true;
  };
  if (!walk(ref, 0)) return null;
  const biases = leaves.filter(l => {
    const node = view.node(l.node);
    return node !== undefined && isRelativePositionBias(view, {ref: l, node}) && !readsInputValues(view, l);
  });
  if (biases.length !== 1) return null;
  return {bias: biases[0], masks: leaves.filter(l => l !== biases[0]), constants};
}

function describeScores(view: GraphView, product: NodeDef):
    MatchResult<{q: InputRef; k: InputRef; qLayout: HeadLayout; kLayout: HeadLayout}> {
  const first = view.resolvedInput(product, 0);
  const second = view.resolvedInput(product, 1);
  if (!first || !second) return refused(`scores product '${product.name}' lacks inputs`);
  if (product.op === 'Einsum') {
    const eq = attrString(product, 'equation') ?? '';
    const terms = scoresEinsum(eq);
    if (!terms) return refused(`scores Einsum '${eq}' is not q·kᵀ over heads`);
    const [q, k] = terms.qIndex === 0 ? [first, second] : [second, first];
    return matched({q, k, qLayout: terms.qLayout, kLayout: terms.kLayout});
  }
  if (attrBool(product, 'adj_x') || attrBool(product, 'transpose_a')) {
    return refused(`scores product '${product.name}' transposes q`);
  }
  // Without adj_y the product reads kᵀ: the fused op gets it transposed back.
  const kLayout: HeadLayout = attrBool(product, 'adj_y') || attrBool(product, 'transpose_b') ? 'bhsd' : 'bhds';
  return matched({q: first, k: second, qLayout: 'bhsd', kLayout});
}

function findOutputProduct(view: GraphView, softmax: NodeDef, interior: NodeDef[]):
    MatchResult<{node: NodeDef; v: InputRef; vLayout: HeadLayout; outLayout: HeadLayout}> {
  const consumers = view.realConsumers(softmax.name);
  if (consumers.length !== 1) {
    return refused(`the attention probabilities of '${softmax.name}' have ${consumers.length} consumers (output_attentions or a non-standard block)`);
  }
  const {node, inputIndex} = consumers[0];
  if (!isProduct(node) || inputIndex !== 0) return refused(`the attention probabilities feed ${node.op} '${node.name}', not probs·v`);
  // Identity nodes (inference-time dropout) between softmax and the product belong to the block.
  for (const c of view.consumers(softmax.name)) if (c.node !== node) interior.push(c.node);
  const v = view.resolvedInput(node, 1);
  if (!v) return refused(`output product '${node.name}' lacks v`);
  if (node.op === 'Einsum') {
    const eq = attrString(node, 'equation') ?? '';
    const terms = outputEinsum(eq);
    if (!terms) return refused(`output Einsum '${eq}' is not probs·v over heads`);
    interior.push(node);
    return matched({node, v, ...terms});
  }
  if (attrBool(node, 'adj_x') || attrBool(node, 'transpose_a')) return refused(`output product '${node.name}' transposes the probabilities`);
  interior.push(node);
  const vLayout: HeadLayout = attrBool(node, 'adj_y') || attrBool(node, 'transpose_b') ? 'bhds' : 'bhsd';
  return matched({node, v, vLayout, outLayout: 'bhsd'});
}

/** A reason if a tensor inside the block is read outside it (the fused op does not produce it). */
function escapingIntermediate(view: GraphView, core: AttentionCore): string | null {
  const inside = new Set(core.interior.map(n => n.name));
  for (const node of core.interior) {
    if (node === core.outputNode) continue;
    for (const c of view.consumers(node.name)) {
      if (inside.has(c.node.name)) continue;
      // Everything from the scores product to the softmax has the scores' shape.
      if (c.node.op === 'Shape' && node !== core.outputProduct) {
        if (!core.scoreShapeReaders.includes(c.node)) core.scoreShapeReaders.push(c.node);
        continue;
      }
      {
        return `'${node.name}' (${node.op}) inside the attention block is also read by '${c.node.name}'`;
      }
    }
  }
  for (const mask of core.masks) if (inside.has(mask.ref.node)) return `mask '${mask.ref.node}' is computed inside the block`;
  return null;
}
