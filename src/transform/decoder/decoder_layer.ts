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
import {DenseMatch} from '../match/dense';
import {addOf, matchAttentionBlock} from './attention_block';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, operands} from '../match/operands';
import {matchMlp, MlpMatch} from './mlp_match';
import {matchNormAt, NormSite, normReading} from './norm_site';
import {ProjectionTrace} from './projection_trace';
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
  const block = matchAttentionBlock(view, consts, tokens, tokens, softmax);
  if (!block.ok) return block;
  const {q, k, v, packed} = block.value;
  const projectionInput = q.dense.input;
  if (!sameDenseInput(view, q, k) || !sameDenseInput(view, k, v)) return refused('q, k and v are projections of different tensors (cross-attention?)');

  const outProj = block.value.outProj;
  // The layer input: the tensor norm1 reads (pre-norm), or the projections' input (post-norm).
  let norm1 = matchNormAt(view, consts, projectionInput);
  // Post-norm layers read the previous layer's norm: a norm at the projections' input whose input the attention
  // output is not added to is not this layer's norm1.
  if (norm1.ok && !addOf(view, outProj.output, norm1.value.input) && addOf(view, outProj.output, projectionInput)) {
    norm1 = refused('post-norm');
  }
  const layerInput = norm1.ok ? norm1.value.input : projectionInput;
  const qkvDenses = packed ? [q.dense] : [q.dense, k.dense, v.dense];
  const attnOut = outProj.output;
  const base = {
    softmax, input: layerInput, q, k, v, packed, scale: block.value.scale, scoresQuery: block.value.scoresQuery, outProj,
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
