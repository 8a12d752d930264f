/**
 * Recognises an encoder–decoder model (T5, BART, mBART, Marian, Pegasus,
 * Blenderbot, Whisper) in a converted full-forward graph — inputs for the
 * source (token ids and their mask, or audio features) and `decoder_input_ids`,
 * output the logits — by structure: the decoder's token lookup (plus learned
 * positions, a scale, an embedding norm), its chain of layers (self-attention,
 * cross-attention, MLP; seq2seq_layer.ts), the final norm and the LM head (with
 * T5's scale of the tied head's input). The encoder's output is the tensor
 * every cross-attention's k and v project; the generator runs the graph up to
 * it once per source, and the decoder as the fused step. Values the structure
 * cannot give (head size, position offset, T5's relative position bias) are
 * read by running parts of the graph (generation/graph_seq2seq.ts), and the
 * whole is checked against the graph before use.
 */
import {ConstantValues} from '../graph/constant_values';
import {InputRef, NodeDef, parseInputRef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from '../match/match_result';
import {ADD_OPS, isScalarConst, operands} from '../match/operands';
import {AttentionBlockMatch, matchAttentionBlock, refKey} from '../decoder/attention_block';
import {HeadMatch, lookupTable, matchHead} from '../decoder/decoder_graph';
import {matchNormAt, NormSite} from '../decoder/norm_site';
import {TokenDependence} from '../decoder/token_dependence';
import {recogniseEncoderChain, RecognisedEncoder} from './encoder_chain';
import {matchSeq2SeqLayer, Seq2SeqLayerMatch} from './seq2seq_layer';

export interface RecognisedSeq2Seq {
  decoderTokenInput: string;
  /** The source: token ids (text models) or features (Whisper), and the source's mask when the graph takes one. */
  sourceInput: string;
  sourceKind: 'tokens' | 'features';
  sourceMaskInput: string | null;
  /** The decoder's own mask input, fed ones (the generator never pads a decoder row). */
  decoderMaskInput: string | null;
  wordEmbedding: InputRef;
  positionEmbedding: {table: InputRef; lookup: NodeDef} | null;
  embeddingScale: number;
  embeddingNorm: NormSite | null;
  /** The embedding norm is of the scaled word embeddings alone, the positions added after it (BlenderbotSmall). */
  embeddingNormBeforePositions: boolean;
  layers: Seq2SeqLayerMatch[];
  finalNorm: NormSite | null;
  /** A scalar the final hidden states are multiplied by before the head (T5's d_model^-0.5 with a tied head). */
  headScale: number;
  head: HeadMatch;
  logits: string;
  /** The encoder's output [B, S, E]: what every cross-attention's k and v project. */
  encoderOutput: InputRef;
  /** The encoder's layers back from its output, or why they are not recognised (the graph runs the encoder then). */
  encoder: RecognisedEncoder | string;
}

const PASS = new Set(['Reshape', 'Identity', 'Cast', 'ExpandDims', 'Squeeze']);

function isFloatInput(view: GraphView, name: string): boolean {
  return String(view.node(name)?.attr?.['dtype']?.type ?? '') === 'DT_FLOAT';
}

/** The embedding table the int placeholder `name` is looked up in (through casts and reshapes). */
function tokenLookup(view: GraphView, consts: ConstantValues, name: string): InputRef | null {
  const frontier = [name];
  for (let hops = 0; frontier.length > 0 && hops < 12; hops++) {
    const current = frontier.shift() as string;
    for (const c of view.realConsumers(current)) {
      const table = c.inputIndex === 1 ? lookupTable(view, consts, c.node) : null;
      if (table) return table;
      if (PASS.has(c.node.op)) frontier.push(c.node.name);
    }
  }
  return null;
}

/** Whether the graph's inputs look like an encoder–decoder's (a decoder_input_ids input). */
export function looksLikeSeq2Seq(inputNames: string[]): boolean {
  return inputNames.some(n => /decoder_input_ids/.test(n));
}

export function recogniseSeq2SeqGraph(view: GraphView, consts: ConstantValues, inputNames: string[], outputNames: string[]):
    MatchResult<RecognisedSeq2Seq> {
  const decoderTokenInput = inputNames.find(n => /decoder_input_ids/.test(n));
  if (!decoderTokenInput) return refused('no decoder_input_ids input');
  const decoderMaskInput = inputNames.find(n => /decoder_attention_mask/.test(n)) ?? null;
  const rest = inputNames.filter(n => n !== decoderTokenInput && n !== decoderMaskInput);
  const features = rest.find(n => /input_features|pixel_values/.test(n) && isFloatInput(view, n));
  const ids = rest.find(n => /input_ids/.test(n) && !isFloatInput(view, n));
  const sourceInput = features ?? ids;
  if (!sourceInput) return refused('no source input (input_ids or input_features) besides decoder_input_ids');
  const sourceMaskInput = rest.find(n => n !== sourceInput && /mask/i.test(n) && !isFloatInput(view, n)) ?? null;
  const others = rest.filter(n => n !== sourceInput && n !== sourceMaskInput);
  if (others.length > 0) return refused(`the graph takes inputs the generator does not know how to feed (${others.join(', ')})`);

  const wordEmbedding = tokenLookup(view, consts, decoderTokenInput);
  if (!wordEmbedding) return refused('decoder_input_ids is not looked up in an embedding table');
  const decoderTokens = new TokenDependence(view, new Set([decoderTokenInput]));
  const sourceTokens = new TokenDependence(view, new Set([sourceInput]));

  const logitsName = outputNames.find(n => /logits/i.test(n)) ?? outputNames[0];
  if (!logitsName) return refused('the graph has no output');
  const head = matchHead(view, consts, parseInputRef(logitsName));
  if (!head.ok) return head;

  // T5 with a tied head scales the hidden states by d_model^-0.5 first.
  let headInput = head.value.input;
  let headScale = 1;
  let finalNorm: NormSite | null = null;
  for (let hops = 0; hops < 5; hops++) {
    const norm = matchNormAt(view, consts, headInput);
    if (norm.ok) {
      finalNorm = norm.value;
      break;
    }
    const node = view.resolve(headInput).node;
    if (node?.op === 'Mul') {
      const ops = operands(view, node);
      const c = ops.find(o => isScalarConst(view, consts, o.ref));
      const value = c ? consts.uniformScalar(c.ref) : undefined;
      if (!c || value === undefined) break;
      headScale *= value;
      headInput = (ops.find(o => o !== c) as {ref: InputRef}).ref;
      continue;
    }
    if (!node || (node.op !== 'Reshape' && node.op !== 'Identity')) break;
    headInput = operands(view, node)[0].ref;
  }
  const stackOutput = finalNorm ? finalNorm.input : headInput;

  // Attention blocks carrying the decoder's tokens: self-attention (k from the decoder) or cross (k from the source).
  const selfBlocks: AttentionBlockMatch[] = [];
  const crossByQuery = new Map<string, AttentionBlockMatch>();
  for (const node of view.nodes.values()) {
    if (node.op !== 'Softmax' || !decoderTokens.carriesTokens(node.name)) continue;
    const probe = matchAttentionBlock(view, consts, decoderTokens, decoderTokens, node);
    if (probe.ok) {
      selfBlocks.push(probe.value);
      continue;
    }
    const cross = matchAttentionBlock(view, consts, decoderTokens, sourceTokens, node);
    if (!cross.ok) return refused(`attention '${node.name}': ${probe.reason}; as cross-attention: ${cross.reason}`);
    if (cross.value.packed) return refused(`cross-attention '${node.name}' packs q with k and v`);
    crossByQuery.set(refKey(view, cross.value.q.dense.input), cross.value);
  }
  if (selfBlocks.length === 0) return refused('no decoder self-attention in the graph');
  if (crossByQuery.size !== selfBlocks.length) {
    return refused(`${selfBlocks.length} decoder self-attentions but ${crossByQuery.size} cross-attentions`);
  }
  const layers: Seq2SeqLayerMatch[] = [];
  for (const block of selfBlocks) {
    const layer = matchSeq2SeqLayer(view, consts, block, crossByQuery);
    if (!layer.ok) return refused(`decoder layer at '${block.softmax.name}': ${layer.reason}`);
    layers.push(layer.value);
  }
  const byInput = new Map(layers.map(l => [refKey(view, l.input), l]));
  if (byInput.size !== layers.length) return refused('two decoder layers read the same residual stream');
  const outputs = new Set(layers.map(l => refKey(view, l.output)));
  const firsts = layers.filter(l => !outputs.has(refKey(view, l.input)));
  if (firsts.length !== 1) return refused('the decoder layers do not form one chain');
  const ordered: Seq2SeqLayerMatch[] = [];
  for (let current: Seq2SeqLayerMatch | undefined = firsts[0]; current; current = byInput.get(refKey(view, current.output))) {
    ordered.push(current);
  }
  if (ordered.length !== layers.length) return refused('the decoder layers do not form one chain');
  const lastOutput = refKey(view, ordered[ordered.length - 1].output);
  if (finalNorm && lastOutput === refKey(view, finalNorm.output)) {
    // Post-norm (BART, Marian): the norm before the head is the last layer's own.
    finalNorm = null;
  } else if (lastOutput !== refKey(view, stackOutput)) {
    return refused('the last decoder layer does not feed the final norm and LM head');
  }
  const encoderOutput = ordered[0].cross.k.dense.input;
  if (ordered.some(l => refKey(view, l.cross.k.dense.input) !== refKey(view, encoderOutput) ||
      refKey(view, l.cross.v.dense.input) !== refKey(view, encoderOutput))) {
    return refused('the cross-attentions do not all project one encoder output');
  }
  if (decoderTokens.carriesTokens(view.resolve(encoderOutput).ref.node)) return refused('the encoder output depends on the decoder\'s tokens');

  // The embeddings: an optional norm over scale · word lookup (+ a learned position lookup).
  let x = ordered[0].input;
  let embeddingNorm: NormSite | null = null;
  const norm = matchNormAt(view, consts, x);
  if (norm.ok) {
    embeddingNorm = norm.value;
    x = norm.value.input;
  }
  const isWordLookup = (n: NodeDef | undefined) => {
    const table = n ? lookupTable(view, consts, n) : null;
    return !!table && refKey(view, table) === refKey(view, wordEmbedding);
  };
  const skipScale = (ref: InputRef): {ref: InputRef; scale: number} | string => {
    const node = view.resolve(ref).node;
    if (node?.op !== 'Mul') return {ref, scale: 1};
    const ops = operands(view, node);
    const c = ops.find(o => isScalarConst(view, consts, o.ref));
    const value = c ? consts.uniformScalar(c.ref) : undefined;
    if (!c || value === undefined) return `the embeddings are multiplied by '${node.name}', not a constant`;
    return {ref: (ops.find(o => o !== c) as {ref: InputRef}).ref, scale: value};
  };
  let embeddingScale = 1;
  let positionEmbedding: RecognisedSeq2Seq['positionEmbedding'] = null;
  const scaled = skipScale(x);
  if (typeof scaled === 'string') return refused(scaled);
  let node = view.resolve(scaled.ref).node;
  let embeddingNormBeforePositions = false;
  if (node && ADD_OPS.has(node.op)) {
    const ops = operands(view, node);
    let word: InputRef | null = null;
    let position: {node?: NodeDef; ref: InputRef} | undefined;
    for (const o of ops) {
      // BlenderbotSmall: norm(scale · word) + position, the norm inside the sum.
      const wordNorm = embeddingNorm === null ? matchNormAt(view, consts, o.ref) : null;
      const normed = wordNorm?.ok ? skipScale(wordNorm.value.input) : null;
      if (wordNorm?.ok && normed && typeof normed !== 'string' && isWordLookup(view.resolve(normed.ref).node)) {
        embeddingNorm = wordNorm.value;
        embeddingNormBeforePositions = true;
        word = normed.ref;
        embeddingScale = normed.scale;
        continue;
      }
      const inner = skipScale(o.ref);
      if (typeof inner !== 'string' && isWordLookup(view.resolve(inner.ref).node)) {
        word = inner.ref;
        embeddingScale = inner.scale;
      } else {
        position = o;
      }
    }
    const table = position?.node ? lookupTable(view, consts, position.node) : null;
    if (!word || !position?.node || !table || decoderTokens.carriesTokens(position.node.name)) {
      return refused('the decoder embeddings are not a word lookup plus a position lookup');
    }
    positionEmbedding = {table, lookup: position.node};
  } else {
    embeddingScale = scaled.scale;
    node = view.resolve(scaled.ref).node;
    if (!isWordLookup(node)) return refused('the first decoder layer does not read the word embeddings');
  }
  const encoder = recogniseEncoderChain(view, consts, sourceTokens, decoderTokens, encoderOutput);
  return matched({
    encoder: encoder.ok ? encoder.value : encoder.reason, decoderTokenInput, sourceInput, sourceKind: features ? 'features' : 'tokens', sourceMaskInput, decoderMaskInput,
    wordEmbedding, positionEmbedding, embeddingScale, embeddingNorm, embeddingNormBeforePositions, layers: ordered,
    finalNorm, headScale,
    head: head.value, logits: logitsName, encoderOutput,
  });
}
