/**
 * One decoder layer around an attention core (a Softmax): the scores product
 * and the product with v, the q/k/v projections behind them (projection_trace:
 * packed or separate, rotary, repeats, past), the output projection, and the
 * residual structure — sequential pre-norm (GPT-2, OPT, Llama/Mistral),
 * post-norm, or parallel attention and MLP (GPT-J with one shared norm,
 * GPT-NeoX with two) — with its norms and MLP. Masks and the scale's
 * placement are not matched: the recogniser checks what the assembled decoder
 * computes against the graph on probe prompts.
 */
import {ConstantValues} from '../graph/constant_values';
import {formatInputRef, InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {DenseMatch, densesReading} from '../match/dense';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, isScalarConst, MATMUL_OPS, operands} from '../match/operands';
import {matchMlp, MlpMatch} from './mlp_match';
import {matchNormAt, NormSite, normReading} from './norm_site';
import {ProjectionTrace, traceProjection} from './projection_trace';
import {TokenDependence} from './token_dependence';

export interface DecoderLayerMatch {
  softmax: NodeDef;
  /** The layer's input and output on the residual stream. */
  input: InputRef;
  output: InputRef;
  normFirst: boolean;
  parallel: boolean;
  /** Parallel layers whose MLP reads norm1's output too (GPT-J). */
  sharedNorm: boolean;
  norm1: NormSite | null;
  norm2: NormSite | null;
  q: ProjectionTrace;
  k: ProjectionTrace;
  v: ProjectionTrace;
  /** One projection split into q | k | v. */
  packed: boolean;
  /** Scalar factors between the scores product and the softmax, times those on q and k. */
  scale: number;
  /** The scores product's q-side operand (its shape gives the head size). */
  scoresQuery: InputRef;
  outProj: DenseMatch;
  mlp: MlpMatch;
}

const key = (view: GraphView, ref: InputRef) => formatInputRef(view.resolve(ref).ref);
const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});
const LAYOUT = new Set(['Reshape', 'Transpose', 'Identity', 'ExpandDims', 'Squeeze']);

/** Back from the softmax's input to the q·kᵀ product, multiplying the scalar factors on the way. */
function scoresProduct(view: GraphView, consts: ConstantValues, tokens: TokenDependence, softmax: NodeDef):
    MatchResult<{product: NodeDef; scale: number}> {
  let ref: InputRef | undefined = operands(view, softmax)[0]?.ref;
  let scale = 1;
  const carries = (r: InputRef) => tokens.carriesTokens(view.resolve(r).ref.node);
  for (let step = 0; ref && step < 24; step++) {
    const node = view.resolve(ref).node;
    if (!node) break;
    if (MATMUL_OPS.has(node.op)) return matched({product: node, scale});
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
function addOf(view: GraphView, a: InputRef, b: InputRef): NodeDef | null {
  for (const c of view.realConsumers(view.resolve(a).ref.node)) {
    if (!ADD_OPS.has(c.node.op)) continue;
    const keys = operands(view, c.node).map(o => key(view, o.ref));
    if (keys.length === 2 && keys.includes(key(view, a)) && keys.includes(key(view, b))) return c.node;
  }
  return null;
}

/** The tensor sum of exactly `terms` (through at most two additions), reached up from `from`. */
function sumOf(view: GraphView, from: InputRef, terms: InputRef[]): NodeDef | null {
  const want = new Set(terms.map(t => key(view, t)));
  const leaves = (node: NodeDef, depth: number): string[] | null => {
    const out: string[] = [];
    for (const o of operands(view, node)) {
      const k = key(view, o.ref);
      if (want.has(k)) out.push(k);
      else if (o.node && ADD_OPS.has(o.node.op) && depth < 2) {
        const inner = leaves(o.node, depth + 1);
        if (!inner) return null;
        out.push(...inner);
      } else return null;
    }
    return out;
  };
  let frontier = [view.resolve(from).ref.node];
  for (let level = 0; level < 3; level++) {
    const next: string[] = [];
    for (const name of frontier) {
      for (const c of view.realConsumers(name)) {
        if (!ADD_OPS.has(c.node.op)) continue;
        const found = leaves(c.node, 0);
        if (found && found.length === want.size && [...want].every(k => found.includes(k))) return c.node;
        next.push(c.node.name);
      }
    }
    frontier = next;
  }
  return null;
}

export function matchDecoderLayer(view: GraphView, consts: ConstantValues, tokens: TokenDependence, softmax: NodeDef):
    MatchResult<DecoderLayerMatch> {
  const scores = scoresProduct(view, consts, tokens, softmax);
  if (!scores.ok) return scores;
  const out = outputProduct(view, softmax);
  if (!out.ok) return out;
  const [qRef, kRef] = [operands(view, scores.value.product)[0]?.ref, operands(view, scores.value.product)[1]?.ref];
  const vRef = operands(view, out.value)[1]?.ref;
  if (!qRef || !kRef || !vRef) return refused(`the products around '${softmax.name}' lack operands`);
  const traces: ProjectionTrace[] = [];
  for (const [name, ref] of [['q', qRef], ['k', kRef], ['v', vRef]] as const) {
    const t = traceProjection(view, consts, tokens, ref);
    if (!t.ok) return refused(`${name}: ${t.reason}`);
    traces.push(t.value);
  }
  const [q, k, v] = traces;
  if (v.rotary || q.past || (k.past === null) !== (v.past === null)) return refused('rotary embedding on v, or a past on q');
  if ((q.rotary === null) !== (k.rotary === null)) return refused('a rotary embedding on only one of q and k');
  const sameDense = (a: ProjectionTrace, b: ProjectionTrace) => key(view, a.dense.output) === key(view, b.dense.output);
  const packed = sameDense(q, k) && sameDense(k, v);
  if (packed) {
    if (q.splitIndex !== 0 || k.splitIndex !== 1 || v.splitIndex !== 2) return refused('q, k and v are not the three parts of one Split, in order');
  } else if (sameDense(q, k) || sameDense(k, v) || sameDense(q, v) || q.splitIndex !== null || k.splitIndex !== null) {
    return refused('q, k and v projections are neither one packed projection nor three');
  }
  const projectionInput = q.dense.input;
  if (!sameDenseInput(view, q, k) || !sameDenseInput(view, k, v)) return refused('q, k and v are projections of different tensors (cross-attention?)');

  const outProj = outputProjection(view, consts, out.value);
  if (!outProj) return refused('no output projection after the attention');

  // The layer input: the tensor norm1 reads (pre-norm), or the projections' input (post-norm).
  const norm1 = matchNormAt(view, consts, projectionInput);
  const layerInput = norm1.ok ? norm1.value.input : projectionInput;
  const qkvDenses = packed ? [q.dense] : [q.dense, k.dense, v.dense];
  const attnOut = outProj.output;
  const base = {
    softmax, input: layerInput, q, k, v, packed, scale: scores.value.scale * q.scale * k.scale, scoresQuery: qRef, outProj,
  };

  // Sequential: attn_out is added to the layer input.
  const residual = addOf(view, attnOut, layerInput);
  if (residual) {
    const sum = refOf(residual);
    if (norm1.ok) {
      const norm2 = normReading(view, consts, sum);
      if (!norm2) return refused('no norm before the MLP');
      const mlp = matchMlp(view, consts, norm2.output, qkvDenses);
      if (!mlp.ok) return mlp;
      const final = addOf(view, mlp.value.down.output, sum);
      if (!final) return refused('no residual connection around the MLP');
      return matched({...base, output: refOf(final), normFirst: true, parallel: false, sharedNorm: false, norm1: norm1.value,
        norm2, mlp: mlp.value});
    }
    // Post-norm: norm1 after the attention residual, norm2 after the MLP's.
    const post1 = normReading(view, consts, sum);
    if (!post1) return refused('no norm after the attention residual');
    const mlp = matchMlp(view, consts, post1.output, qkvDenses);
    if (!mlp.ok) return mlp;
    const final = addOf(view, mlp.value.down.output, post1.output);
    if (!final) return refused('no residual connection around the MLP');
    const post2 = normReading(view, consts, refOf(final));
    if (!post2) return refused('no norm after the MLP residual');
    return matched({...base, output: post2.output, normFirst: false, parallel: false, sharedNorm: false, norm1: post1,
      norm2: post2, mlp: mlp.value});
  }
  // Parallel: x + attn(n1(x)) + mlp(n1(x) or n2(x)).
  if (!norm1.ok) return refused('no residual connection around the attention');
  let sharedNorm = true;
  let mlpInput = norm1.value.output;
  let norm2: NormSite | null = null;
  let mlp = matchMlp(view, consts, mlpInput, qkvDenses);
  if (!mlp.ok) {
    norm2 = normReading(view, consts, layerInput, new Set(norm1.value.nodes.map(n => n.name)));
    if (!norm2) return refused(`no residual connection around the attention, and no parallel MLP (${mlp.reason})`);
    sharedNorm = false;
    mlpInput = norm2.output;
    mlp = matchMlp(view, consts, mlpInput, qkvDenses);
    if (!mlp.ok) return mlp;
  }
  const final = sumOf(view, attnOut, [attnOut, mlp.value.down.output, layerInput]);
  if (!final) return refused('the attention and MLP outputs are not added to the layer input');
  return matched({...base, output: refOf(final), normFirst: true, parallel: true, sharedNorm, norm1: norm1.value, norm2,
    mlp: mlp.value});
}

function sameDenseInput(view: GraphView, a: ProjectionTrace, b: ProjectionTrace): boolean {
  return key(view, a.dense.input) === key(view, b.dense.input);
}
