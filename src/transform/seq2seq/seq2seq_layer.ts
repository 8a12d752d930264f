/**
 * One layer of an encoder–decoder's decoder, from its self-attention block:
 * the residual structure that takes the stream through self-attention, then
 * cross-attention over the encoder's output, then the MLP — pre-norm (T5,
 * mBART, Pegasus, Whisper: x += block(norm(x)) three times) or post-norm
 * (BART, Marian: x = norm(x + block(x)) three times). The cross-attention block
 * is the one whose q projection reads the stream where the structure says it
 * must; its k and v project the encoder's output.
 */
import {ConstantValues} from '../graph/constant_values';
import {InputRef, NodeDef} from '../graph/graph_def';
import {GraphView} from '../graph/graph_view';
import {matched, MatchResult, refused} from '../match/match_result';
import {addOf, AttentionBlockMatch, refKey} from '../decoder/attention_block';
import {matchMlp, MlpMatch} from '../decoder/mlp_match';
import {matchNormAt, NormSite, normReading} from '../decoder/norm_site';

export interface Seq2SeqLayerMatch {
  self: AttentionBlockMatch;
  cross: AttentionBlockMatch;
  input: InputRef;
  output: InputRef;
  normFirst: boolean;
  /** Pre-norm: the norms before self-attention, cross-attention and the MLP; post-norm: after each residual. */
  norm1: NormSite;
  normCross: NormSite;
  norm2: NormSite;
  mlp: MlpMatch;
}

const refOf = (node: NodeDef): InputRef => ({node: node.name, output: 0, control: false});

/** `crossByQuery`: the cross-attention blocks by the tensor their q projection reads. */
export function matchSeq2SeqLayer(view: GraphView, consts: ConstantValues, self: AttentionBlockMatch,
    crossByQuery: Map<string, AttentionBlockMatch>): MatchResult<Seq2SeqLayerMatch> {
  const {q, k, v} = self;
  const projectionInput = q.dense.input;
  const same = (a: InputRef, b: InputRef) => refKey(view, a) === refKey(view, b);
  if (!same(k.dense.input, projectionInput) || !same(v.dense.input, projectionInput)) {
    return refused('the self-attention\'s q, k and v project different tensors');
  }
  const norm1 = matchNormAt(view, consts, projectionInput);
  const preInput = norm1.ok ? norm1.value.input : null;
  const attnOut = self.outProj.output;
  // Pre-norm: the attention output is added to the tensor norm1 reads.
  const preResidual = preInput ? addOf(view, attnOut, preInput) : null;
  if (norm1.ok && preInput && preResidual) {
    const sum1 = refOf(preResidual);
    const normCross = normReading(view, consts, sum1);
    if (!normCross) return refused('no norm before the cross-attention');
    const cross = crossByQuery.get(refKey(view, normCross.output));
    if (!cross) return refused('no cross-attention reads the norm after the self-attention');
    const residual2 = addOf(view, cross.outProj.output, sum1);
    if (!residual2) return refused('no residual connection around the cross-attention');
    const sum2 = refOf(residual2);
    const norm2 = normReading(view, consts, sum2);
    if (!norm2) return refused('no norm before the MLP');
    const mlp = matchMlp(view, consts, norm2.output, []);
    if (!mlp.ok) return mlp;
    const final = addOf(view, mlp.value.down.output, sum2);
    if (!final) return refused('no residual connection around the MLP');
    return matched({self, cross, input: preInput, output: refOf(final), normFirst: true, norm1: norm1.value, normCross,
      norm2, mlp: mlp.value});
  }
  // Post-norm: the attention output is added to the projections' input, and the sum normalised.
  const residual1 = addOf(view, attnOut, projectionInput);
  if (!residual1) return refused('no residual connection around the self-attention');
  const post1 = normReading(view, consts, refOf(residual1));
  if (!post1) return refused('no norm after the self-attention residual');
  const cross = crossByQuery.get(refKey(view, post1.output));
  if (!cross) return refused('no cross-attention reads the norm after the self-attention');
  const residual2 = addOf(view, cross.outProj.output, post1.output);
  if (!residual2) return refused('no residual connection around the cross-attention');
  const postCross = normReading(view, consts, refOf(residual2));
  if (!postCross) return refused('no norm after the cross-attention residual');
  const mlp = matchMlp(view, consts, postCross.output, []);
  if (!mlp.ok) return mlp;
  const final = addOf(view, mlp.value.down.output, postCross.output);
  if (!final) return refused('no residual connection around the MLP');
  const post2 = normReading(view, consts, refOf(final));
  if (!post2) return refused('no norm after the MLP residual');
  return matched({self, cross, input: projectionInput, output: post2.output, normFirst: false, norm1: post1,
    normCross: postCross, norm2: post2, mlp: mlp.value});
}
