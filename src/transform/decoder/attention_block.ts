/**
 * One attention block of a decoder found around its core (a Softmax): the
 * scores product q·kᵀ with the scalar factors and the additive terms between
 * it and the softmax (masks, a learned position bias), the product with v, the
 * q/k/v projections behind them (projection_trace) and the output projection.
 * Self-attention reads q, k and v from one residual stream; cross-attention
 * reads q from the decoder and k, v from the encoder's output, so the walk back
 * from k and v follows the tensors that carry the source (`keyTokens`) rather
 * than the decoder's tokens. The residual structure around blocks is matched by
 * decoder_layer.ts (decoder-only) and seq2seq/seq2seq_layer.ts.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrString, formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {DenseMatch, densesReading} from '../match/dense';
import {matched, MatchResult, refused} from '../match/match_result';
import {scoresEinsum} from '../match/einsum_layout';
import {ADD_OPS, isScalarConst, MATMUL_OPS, operands} from '../match/operands';
import {ProjectionTrace, traceProjection} from './projection_trace';
import {TokenDependence} from './token_dependence';

export interface AttentionBlockMatch {
  softmax: NodeDef;
  q: ProjectionTrace;
  k: ProjectionTrace;
  v: ProjectionTrace;
  /** One projection split into q | k | v. */
  packed: boolean;
  /** Scalar factors between the scores product and the softmax, times those on q and k. */
  scale: number;
  /** The scores product's q-side operand (its shape gives the head size). */
  scoresQuery: InputRef;
  /** Token-independent tensors added to the scores (masks, a position bias), outermost first. */
  additiveTerms: InputRef[];
  outProj: DenseMatch;
}

const LAYOUT = new Set(['Reshape', 'Transpose', 'Identity', 'ExpandDims', 'Squeeze']);
export const refKey = (view: GraphView, ref: InputRef) => formatInputRef(view.resolve(ref).ref);

/** Back from the softmax's input to the q·kᵀ product, multiplying the scalar factors on the way. */
function scoresProduct(view: GraphView, consts: ConstantValues, tokens: TokenDependence, softmax: NodeDef):
    MatchResult<{product: NodeDef; q: InputRef; k: InputRef; scale: number; additiveTerms: InputRef[]}> {
  let ref: InputRef | undefined = operands(view, softmax)[0]?.ref;
  let scale = 1;
  const additiveTerms: InputRef[] = [];
  const carries = (r: InputRef) => tokens.carriesTokens(view.resolve(r).ref.node);
  for (let step = 0; ref && step < 24; step++) {
    const node = view.resolve(ref).node;
    if (!node) break;
    if (MATMUL_OPS.has(node.op)) {
      const [q, k] = operands(view, node).map(o => o.ref);
      if (!q || !k) break;
      return matched({product: node, q, k, scale, additiveTerms});
    }
    if (node.op === 'Einsum') {
      // T5: einsum('bnqd,bnkd->bnqk', q, k) — q and k in [B, H, S, D].
      const form = scoresEinsum(attrString(node, 'equation') ?? '');
      const ops = operands(view, node);
      if (!form || form.qLayout !== 'bhsd' || form.kLayout !== 'bhsd' || ops.length !== 2) {
        return refused(`the scores Einsum '${node.name}' is not q·kᵀ over [B, H, S, D] operands`);
      }
      return matched({product: node, q: ops[form.qIndex].ref, k: ops[1 - form.qIndex].ref, scale, additiveTerms});
    }
    const ops = operands(view, node);
    if (LAYOUT.has(node.op)) {
      ref = ops[0].ref;
    } else if (node.op === 'Mul' || node.op === 'RealDiv' || node.op === 'Div') {
      const constant = ops.find(o => isScalarConst(view, consts, o.ref));
      const value = constant ? consts.uniformScalar(constant.ref) : undefined;
      if (constant && value !== undefined && Number.isFinite(value) && value !== 0) {
        scale *= node.op === 'Mul' ? value : 1 / value;
        ref = ops.find(o => o !== constant)?.ref;
      } else {
        // A 0/1 mask multiplied in (GPT-2's causal band): follow the scores.
        ref = ops.find(o => carries(o.ref))?.ref;
      }
    } else if (ADD_OPS.has(node.op) || node.op === 'Sub' || node.op === 'SelectV2' || node.op === 'Select') {
      // Masks are added (or selected); the scores are the operand that carries tokens.
      const candidates = node.op.startsWith('Select') ? ops.slice(1) : ops;
      const scores = candidates.filter(o => carries(o.ref));
      if (scores.length !== 1) return refused(`cannot tell the scores from the mask at '${node.name}'`);
      if (ADD_OPS.has(node.op)) additiveTerms.push(...ops.filter(o => o !== scores[0]).map(o => o.ref));
      ref = scores[0].ref;
    } else {
      return refused(`'${node.name}' (${node.op}) between the scores and the softmax`);
    }
  }
  return refused(`no q·kᵀ product below '${softmax.name}'`);
}

/** The product of the probabilities with v, forward from the softmax. */
function outputProduct(view: GraphView, softmax: NodeDef): MatchResult<NodeDef> {
  let name = softmax.name;
  for (let step = 0; step < 6; step++) {
    const consumers = view.realConsumers(name).filter(c => c.node.op !== 'Shape');
    if (consumers.length !== 1) return refused(`the probabilities of '${softmax.name}' have ${consumers.length} readers`);
    const c = consumers[0];
    if (MATMUL_OPS.has(c.node.op) && c.inputIndex === 0) return matched(c.node);
    if (!LAYOUT.has(c.node.op)) return refused(`the probabilities feed ${c.node.op} '${c.node.name}', not a product with v`);
    name = c.node.name;
  }
  return refused(`no product with v after '${softmax.name}'`);
}

/** The output projection: the first dense reached forward from the attention output through layout ops. */
function outputProjection(view: GraphView, consts: ConstantValues, product: NodeDef): DenseMatch | null {
  let current = [product.name];
  for (let step = 0; step < 6 && current.length > 0; step++) {
    const next: string[] = [];
    for (const name of current) {
      const dense = densesReading(view, consts, {node: name, output: 0, control: false})[0];
      if (dense) return dense;
      for (const c of view.realConsumers(name)) if (LAYOUT.has(c.node.op)) next.push(c.node.name);
    }
    current = next;
  }
  return null;
}

/** The addition consuming `a` whose other operand is `b` (either order), if any. */
export function addOf(view: GraphView, a: InputRef, b: InputRef): NodeDef | null {
  for (const c of view.realConsumers(view.resolve(a).ref.node)) {
    if (!ADD_OPS.has(c.node.op)) continue;
    const keys = operands(view, c.node).map(o => refKey(view, o.ref));
    if (keys.length === 2 && keys.includes(refKey(view, a)) && keys.includes(refKey(view, b))) return c.node;
  }
  return null;
}

/**
 * The block around `softmax`. q is traced along `queryTokens`, k and v along `keyTokens` (the same for
 * self-attention; the source's for cross-attention).
 */
export function matchAttentionBlock(view: GraphView, consts: ConstantValues, queryTokens: TokenDependence,
    keyTokens: TokenDependence, softmax: NodeDef): MatchResult<AttentionBlockMatch> {
  const scores = scoresProduct(view, consts, queryTokens, softmax);
  if (!scores.ok) return scores;
  const out = outputProduct(view, softmax);
  if (!out.ok) return out;
  const [qRef, kRef] = [scores.value.q, scores.value.k];
  const vRef = operands(view, out.value)[1]?.ref;
  if (!qRef || !kRef || !vRef) return refused(`the products around '${softmax.name}' lack operands`);
  const traces: ProjectionTrace[] = [];
  for (const [name, ref, tokens] of [['q', qRef, queryTokens], ['k', kRef, keyTokens], ['v', vRef, keyTokens]] as const) {
    const t = traceProjection(view, consts, tokens, ref);
    if (!t.ok) return refused(`${name}: ${t.reason}`);
    traces.push(t.value);
  }
  const [q, k, v] = traces;
  if (v.rotary || q.past || (k.past === null) !== (v.past === null)) return refused('rotary embedding on v, or a past on q');
  if ((q.rotary === null) !== (k.rotary === null)) return refused('a rotary embedding on only one of q and k');
  const sameDense = (a: ProjectionTrace, b: ProjectionTrace) => refKey(view, a.dense.output) === refKey(view, b.dense.output);
  const packed = sameDense(q, k) && sameDense(k, v);
  if (packed) {
    if (q.splitIndex !== 0 || k.splitIndex !== 1 || v.splitIndex !== 2) return refused('q, k and v are not the three parts of one Split, in order');
  } else if (sameDense(q, k) || sameDense(k, v) || sameDense(q, v) || q.splitIndex !== null || k.splitIndex !== null) {
    return refused('q, k and v projections are neither one packed projection nor three');
  }
  const outProj = outputProjection(view, consts, out.value);
  if (!outProj) return refused('no output projection after the attention');
  return matched({softmax, q, k, v, packed, scale: scores.value.scale * q.scale * k.scale, scoresQuery: qRef,
    additiveTerms: scores.value.additiveTerms, outProj});
}
