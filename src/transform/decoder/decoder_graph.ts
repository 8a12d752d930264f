/**
 * Recognises a decoder-only language model in a converted graph by structure:
 * the token-id input and its embedding lookup (plus learned positions), the
 * chain of decoder layers from the embeddings to the final norm (each found
 * around its attention core, decoder_layer.ts) and the LM head producing the
 * logits output. Values the structure cannot give (the head size, rotary
 * tables, the position offset) are read by running parts of the graph
 * (decoder_spec.ts), and the whole is checked against the graph on probe
 * prompts before a generator uses it.
 */
import {ConstantValues} from '../graph/constant_values';
import {attrBool, attrShape, formatInputRef, InputRef, NodeDef, parseInputRef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {DenseMatch, matchDense} from '../match/dense';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, isScalarConst, MATMUL_OPS, operands} from '../match/operands';
import {DecoderLayerMatch, matchDecoderLayer} from './decoder_layer';
import {matchNormAt, NormSite} from './norm_site';
import {TokenDependence} from './token_dependence';

export interface HeadMatch {
  weight: InputRef;
  /** The weight is [vocab, E] (x · Wᵀ, an LM head tied to the embeddings), else [E, vocab]. */
  transposed: boolean;
  bias: InputRef | null;
  input: InputRef;
}

export interface RecognisedDecoder {
  tokenInput: string;
  maskInput: string | null;
  /** Float inputs holding a past (the past-key-values form); the generator feeds them empty or not at all. */
  pastInputs: string[];
  /** Other inputs (position ids, ...): the generator cannot drive the graph with them. */
  otherInputs: string[];
  wordEmbedding: InputRef;
  positionEmbedding: {table: InputRef; lookup: NodeDef} | null;
  embeddingScale: number;
  layers: DecoderLayerMatch[];
  finalNorm: NormSite | null;
  head: HeadMatch;
  logits: string;
}

const key = (view: GraphView, ref: InputRef) => formatInputRef(view.resolve(ref).ref);
const PASS = new Set(['Reshape', 'Identity', 'Cast', 'ExpandDims', 'Squeeze']);

function constShape(view: GraphView, consts: ConstantValues, ref: InputRef): number[] | undefined {
  return attrShape(view.resolve(ref).node?.attr?.['value']) ?? undefined;
}

/** A lookup GatherV2(Const [rows, width], indices, axis 0) reading `indices` through casts and reshapes. */
export function lookupTable(view: GraphView, consts: ConstantValues, node: NodeDef): InputRef | null {
  if (node.op !== 'GatherV2' && node.op !== 'Gather' && node.op !== 'ResourceGather') return null;
  const table = view.resolvedInput(node, 0);
  if (!table || !consts.isConst(table) || constShape(view, consts, table)?.length !== 2) return null;
  const axis = node.op === 'GatherV2' ? view.resolvedInput(node, 2) : undefined;
  if (axis && consts.uniformScalar(axis) !== undefined && consts.uniformScalar(axis) !== 0) return null;
  return table;
}

/** The LM head: the dense product that makes `logits` (through Identity/Reshape), with a [1, V, E] BatchMatMul weight allowed. */
export function matchHead(view: GraphView, consts: ConstantValues, logits: InputRef): MatchResult<HeadMatch> {
  let ref = logits;
  let bias: InputRef | null = null;
  for (let step = 0; step < 8; step++) {
    const node = view.resolve(ref).node;
    if (!node) break;
    const dense = matchDense(view, consts, view.resolve(ref).ref);
    if (dense.ok && !dense.value.fusedActivation && !dense.value.flattenedKernel && !(bias && dense.value.bias)) {
      return matched({weight: dense.value.weight, transposed: dense.value.weightTransposed, bias: dense.value.bias ?? bias,
        input: dense.value.input});
    }
    // GPT-2: BatchMatMulV2(h [B, S, E], Const [1, V, E], adj_y) — the embedding matrix with a leading 1.
    if (MATMUL_OPS.has(node.op)) {
      const w = view.resolvedInput(node, 1), x = view.resolvedInput(node, 0);
      const shape = w ? constShape(view, consts, w) : undefined;
      if (w && x && consts.isConst(w) && shape?.length === 3 && shape[0] === 1 && !attrBool(node, 'adj_x')) {
        return matched({weight: w, transposed: attrBool(node, 'adj_y') || attrBool(node, 'transpose_b'), bias, input: x});
      }
    }
    if (node.op === 'Identity' || node.op === 'Reshape') {
      ref = operands(view, node)[0].ref;
      continue;
    }
    // BART's final_logits_bias: a [1, V] constant added to a head without a bias of its own.
    if (ADD_OPS.has(node.op) && bias === null) {
      const ops = operands(view, node);
      const constant = ops.find(o => consts.isConst(o.ref) && (constShape(view, consts, o.ref) ?? []).filter(d => d !== 1).length === 1);
      const other = ops.find(o => o !== constant);
      if (constant && other) {
        bias = constant.ref;
        ref = other.ref;
        continue;
      }
    }
    break;
  }
  return refused(`the logits output '${logits.node}' is not a projection of the final hidden states`);
}

export function recogniseDecoderGraph(view: GraphView, consts: ConstantValues, inputNames: string[], outputNames: string[]):
    MatchResult<RecognisedDecoder> {
  // The token input: an integer placeholder looked up in a float table.
  let tokenInput: string | null = null;
  let wordEmbedding: InputRef | null = null;
  for (const name of inputNames) {
    const placeholder = view.node(name);
    if (!placeholder || placeholder.op !== 'Placeholder') continue;
    const frontier = [name];
    for (let hops = 0; frontier.length > 0 && hops < 12 && !wordEmbedding; hops++) {
      const current = frontier.shift() as string;
      for (const c of view.realConsumers(current)) {
        const table = c.inputIndex === 1 ? lookupTable(view, consts, c.node) : null;
        if (table) {
          tokenInput = name;
          wordEmbedding = table;
          break;
        }
        if (PASS.has(c.node.op)) frontier.push(c.node.name);
      }
    }
    if (wordEmbedding) break;
  }
  if (!tokenInput || !wordEmbedding) return refused('no token-id input looked up in an embedding table');
  const tokens = new TokenDependence(view, new Set([tokenInput]));

  const logitsName = outputNames.find(n => /logits/i.test(n)) ?? outputNames[0];
  if (!logitsName) return refused('the graph has no output');
  const head = matchHead(view, consts, parseInputRef(logitsName));
  if (!head.ok) return head;

  // The final norm, possibly behind a Reshape back to [B, S, E] (GPT-2, GPT-J).
  let headInput = head.value.input;
  let finalNorm: NormSite | null = null;
  for (let hops = 0; hops < 4; hops++) {
    const norm = matchNormAt(view, consts, headInput);
    if (norm.ok) {
      finalNorm = norm.value;
      break;
    }
    const node = view.resolve(headInput).node;
    if (!node || (node.op !== 'Reshape' && node.op !== 'Identity')) break;
    headInput = operands(view, node)[0].ref;
  }
  const stackOutput = finalNorm ? finalNorm.input : headInput;

  // Every attention core that carries tokens, as a layer; then chained by their residual streams.
  const layers: DecoderLayerMatch[] = [];
  for (const node of view.nodes.values()) {
    if (node.op !== 'Softmax' || !tokens.carriesTokens(node.name)) continue;
    const layer = matchDecoderLayer(view, consts, tokens, node);
    if (!layer.ok) return refused(`attention '${node.name}': ${layer.reason}`);
    layers.push(layer.value);
  }
  if (layers.length === 0) return refused('no attention in the graph');
  const byInput = new Map(layers.map(l => [key(view, l.input), l]));
  if (byInput.size !== layers.length) return refused('two attention layers read the same residual stream');
  const ordered: DecoderLayerMatch[] = [];
  // The first layer is the one whose input no other layer produces.
  const outputs = new Set(layers.map(l => key(view, l.output)));
  const firsts = layers.filter(l => !outputs.has(key(view, l.input)));
  if (firsts.length !== 1) return refused('the layers do not form one chain');
  let current: DecoderLayerMatch | undefined = firsts[0];
  while (current) {
    ordered.push(current);
    current = byInput.get(key(view, current.output));
  }
  if (ordered.length !== layers.length) return refused('the layers do not form one chain');
  if (key(view, ordered[ordered.length - 1].output) !== key(view, stackOutput)) {
    return refused('the last layer does not feed the final norm and LM head');
  }

  // The embeddings: the word lookup, plus a learned position lookup, times a scale.
  let embeddingScale = 1;
  let positionEmbedding: RecognisedDecoder['positionEmbedding'] = null;
  let x = ordered[0].input;
  let node = view.resolve(x).node;
  if (node?.op === 'Mul') {
    const c = operands(view, node).find(o => isScalarConst(view, consts, o.ref));
    const value = c ? consts.uniformScalar(c.ref) : undefined;
    if (!c || value === undefined) return refused(`the embeddings are multiplied by '${node.name}', not a constant`);
    embeddingScale = value;
    x = (operands(view, node).find(o => o !== c) as {ref: InputRef}).ref;
    node = view.resolve(x).node;
  }
  const isWordLookup = (n: NodeDef | undefined) =>
    !!n && lookupTable(view, consts, n) !== null && key(view, lookupTable(view, consts, n) as InputRef) === key(view, wordEmbedding as InputRef);
  if (node && ADD_OPS.has(node.op)) {
    const ops = operands(view, node);
    const word = ops.find(o => isWordLookup(o.node));
    const position = ops.find(o => o !== word);
    const table = position?.node ? lookupTable(view, consts, position.node) : null;
    if (!word || !position?.node || !table || tokens.carriesTokens(position.node.name)) {
      return refused('the embeddings are not a word lookup plus a position lookup');
    }
    positionEmbedding = {table, lookup: position.node};
  } else if (!isWordLookup(node)) {
    return refused('the first layer does not read the word embeddings');
  }

  const placeholders = inputNames.filter(n => n !== tokenInput);
  const isFloat = (n: string) => String(view.node(n)?.attr?.['dtype']?.type ?? '') === 'DT_FLOAT';
  const maskInput = placeholders.find(n => /mask/i.test(n) && !isFloat(n)) ?? null;
  const pastInputs = placeholders.filter(n => n !== maskInput && isFloat(n));
  const otherInputs = placeholders.filter(n => n !== maskInput && !pastInputs.includes(n));
  const headWeightShape = constShape(view, consts, head.value.weight);
  const vocab = constShape(view, consts, wordEmbedding)?.[0];
  const headVocab = head.value.transposed ? headWeightShape?.[headWeightShape.length - 2] : headWeightShape?.[headWeightShape.length - 1];
  if (vocab === undefined || headVocab !== vocab) return refused(`the LM head's ${headVocab} outputs are not the ${vocab} tokens of the vocabulary`);
  const transposedLayerWeight = ordered.some(l => [l.q, l.k, l.v].some(t => t.dense.weightTransposed) ||
      l.outProj.weightTransposed || l.mlp.up.weightTransposed || l.mlp.down.weightTransposed || !!l.mlp.gate?.weightTransposed);
  if (transposedLayerWeight) return refused('a layer weight is stored transposed ([out, in]); the fused step reads [in, out] weights in place');
  return matched({
    tokenInput, maskInput, pastInputs, otherInputs, wordEmbedding, positionEmbedding, embeddingScale, layers: ordered,
    finalNorm, head: head.value, logits: logitsName,
  });
}

export type {DenseMatch};
