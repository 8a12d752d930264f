/**
 * Replaces a matched attention core with one ScaledDotProductAttention node.
 * Constant values (scales, uniform additions) are checked here, with weights:
 * a block whose constants are not what the fused op computes is refused.
 */
import {ConstantValues} from '../graph/constant_values';
import {InputRef, parseInputRef} from '../graph/graph_def';
import {FLOAT32_MAX, graphOpName} from '../../op_table';
import {AttentionCore, ScaleTerm} from '../match/attention_core';
import {matched, MatchResult, refused} from '../match/match_result';
import {boolAttr, floatAttr, NodeFactory, stringAttr} from './node_builders';

export function scaleProduct(consts: ConstantValues, terms: ScaleTerm[]): MatchResult<number> {
  let scale = 1;
  for (const term of terms) {
    const c = consts.uniformScalar(term.ref);
    if (c === undefined) return refused(`the value of scale '${term.ref.node}' is unknown`);
    if (!Number.isFinite(c) || c === 0) return refused(`scale '${term.ref.node}' is ${c}, not a finite non-zero constant`);
    scale = term.divide ? scale / c : scale * c;
  }
  // The fused ops take the scale as a float32.
  if (!(Math.abs(scale) <= FLOAT32_MAX) || scale === 0) return refused(`the combined scale ${scale} is not a finite non-zero float32`);
  return matched(scale);
}

/** The additive mask the fused op gets: the sum of the mask terms with their signs and later scales. */
export function combinedMask(core: AttentionCore, consts: ConstantValues, nodes: NodeFactory): MatchResult<InputRef | null> {
  let mask: InputRef | null = null;
  core.masks.forEach((term, i) => {
    const factor = scaleProduct(consts, term.scaledBy);
    if (!factor.ok) throw new Error(factor.reason);
    const scaled = nodes.mulScalar(`mask_term${i}`, term.ref, term.sign * factor.value);
    mask = mask ? nodes.add(`mask_sum${i}`, mask, scaled) : scaled;
  });
  return matched(mask);
}

export function checkUniformAdds(core: AttentionCore, consts: ConstantValues): string | null {
  for (const node of core.uniformAdds) {
    const refs = (node.input ?? []).map(parseInputRef).filter(r => !r.control);
    const values = refs.map(r => consts.uniformScalar(r)).filter(v => v !== undefined);
    if (values.some(v => Number.isNaN(v))) return `'${node.name}' adds a constant that is not the same for every score`;
  }
  return null;
}

/** Why an attention core with a position bias is not fused alone (inspect's plan says the same). */
export const POSITION_BIAS_REFUSAL = 'attention bias depends on learned position weights (relative attention bias), which the ' +
    'fused attention op does not compute (only a whole encoder layer takes it, as attentionBias)';

export function rewriteAttentionCore(core: AttentionCore, consts: ConstantValues, nodes: NodeFactory): MatchResult<InputRef> {
  // T5's decoder attentions (and an encoder layer that did not fuse whole) keep their bias in the graph:
  // the fused attention alone would materialise it per layer as a mask.
  if (core.positionBias) return refused(POSITION_BIAS_REFUSAL);
  const scale = scaleProduct(consts, core.scales);
  if (!scale.ok) return scale;
  const uniform = checkUniformAdds(core, consts);
  if (uniform) return refused(uniform);
  let mask: MatchResult<InputRef | null>;
  try {
    mask = combinedMask(core, consts, nodes);
  } catch (e) {
    return refused((e as Error).message);
  }
  if (!mask.ok) return mask;
  const q = nodes.toHeadsFirst('q', core.q, core.qLayout);
  const k = nodes.toHeadsFirst('k', core.k, core.kLayout);
  const v = nodes.toHeadsFirst('v', core.v, core.vLayout);
  const inputs: Array<[string, InputRef]> = [['q', q], ['k', k], ['v', v]];
  if (mask.value) inputs.push(['attnMask', mask.value]);
  const fused = nodes.fused('attention', graphOpName('ScaledDotProductAttention'), inputs, {
    scale: floatAttr(scale.value),
    isCausal: boolAttr(core.isCausal),
    maskKind: stringAttr(mask.value ? 'additive' : 'none'),
  });
  for (const reader of core.scoreShapeReaders) {
    const shape = nodes.op('scores_shape', graphOpName('AttentionScoresShape'), [q, k], {
      out_type: reader.attr?.['out_type'] ?? {type: 'DT_INT32'},
      inputs: stringAttr('q,k'),
    });
    nodes.rewrite.remove([reader], shape.node);
    nodes.rewrite.redirect({node: reader.name, output: 0, control: false}, shape);
  }
  // Keras keeps heads after the sequence axis: transpose the fused output back.
  const result = core.outLayout === 'bshd' ? nodes.permute('output_bshd', fused, [0, 2, 1, 3]) : fused;
  nodes.rewrite.remove(core.interior, fused.node);
  nodes.rewrite.redirect({node: core.outputNode.name, output: 0, control: false}, result);
  return matched(result);
}
