/**
 * The encoder of an encoder–decoder graph, read back from its output (the
 * tensor the decoder's cross-attentions project): an optional final norm, then
 * the chain of self-attention + MLP layers (each matched like a decoder-only
 * layer around its Softmax, along the tensors that carry the source), down to
 * the first layer's input — the embeddings (or Whisper's convolutions), which
 * the generator keeps running in the graph. What the fused encoder computes is
 * checked against the graph's encoder output on probe sources before use.
 */
import {ConstantValues} from '../graph/constant_values';
import {InputRef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from '../match/match_result';
import {refKey} from '../decoder/attention_block';
import {DecoderLayerMatch, matchDecoderLayer} from '../decoder/decoder_layer';
import {matchNormAt, NormSite} from '../decoder/norm_site';
import {TokenDependence} from '../decoder/token_dependence';

export interface RecognisedEncoder {
  /** The first layer's input (the embeddings). */
  input: InputRef;
  layers: DecoderLayerMatch[];
  finalNorm: NormSite | null;
  output: InputRef;
}

export function recogniseEncoderChain(view: GraphView, consts: ConstantValues, source: TokenDependence,
    decoderTokens: TokenDependence, output: InputRef): MatchResult<RecognisedEncoder> {
  const byOutput = new Map<string, DecoderLayerMatch>();
  for (const node of view.nodes.values()) {
    if (node.op !== 'Softmax' || !source.carriesTokens(node.name) || decoderTokens.carriesTokens(node.name)) continue;
    const layer = matchDecoderLayer(view, consts, source, node);
    if (!layer.ok) return refused(`encoder attention '${node.name}': ${layer.reason}`);
    if (layer.value.parallel) return refused('the encoder has parallel attention and MLP');
    byOutput.set(refKey(view, layer.value.output), layer.value);
  }
  if (byOutput.size === 0) return refused('no encoder self-attention in the graph');
  let finalNorm: NormSite | null = null;
  let x = output;
  if (!byOutput.has(refKey(view, x))) {
    const norm = matchNormAt(view, consts, x);
    if (!norm.ok) return refused('the encoder output is neither a layer\'s output nor a norm of one');
    finalNorm = norm.value;
    x = norm.value.input;
  }
  const layers: DecoderLayerMatch[] = [];
  for (let layer = byOutput.get(refKey(view, x)); layer; layer = byOutput.get(refKey(view, layer.input))) {
    layers.unshift(layer);
    if (layers.length > byOutput.size) return refused('the encoder layers form a cycle');
  }
  if (layers.length !== byOutput.size) return refused('the encoder layers do not form one chain to the encoder output');
  return matched({input: layers[0].input, layers, finalNorm, output});
}
