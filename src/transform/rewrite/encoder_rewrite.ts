/**
 * Replaces a matched encoder layer with one BetterTransformerEncoderLayer
 * node. Weights are read from the model: Dense kernels already in [in, out]
 * layout are used in place (so the cpu kernels' packed-weight cache keys on
 * the model's own tensors); transposed kernels and missing biases become new
 * constants. Every shape is checked against the layer width before anything
 * is rewritten.
 */
import * as tf from '@tensorflow/tfjs-core';
import {ConstantValues} from '../graph/constant_values';
import {InputRef} from '../graph/graph_def';
import {graphOpName} from '../../op_table';
import {DenseMatch} from '../match/dense';
import {EncoderLayerMatch, EncoderNorm} from '../match/encoder_layer';
import {matched, MatchResult, refused} from '../match/match_result';
import {scaleProduct} from './attention_rewrite';
import {boolAttr, floatAttr, intAttr, NodeFactory, stringAttr} from './node_builders';

interface Prepared {
  inputs: Array<[string, InputRef]>;
  embed: number;
}

function shapeOf(consts: ConstantValues, ref: InputRef): number[] | undefined {
  return consts.value(ref)?.shape;
}

/** Weight [in, out] and bias [out] of a projection, with their shapes checked. */
function denseInputs(consts: ConstantValues, nodes: NodeFactory, name: string, d: DenseMatch, inDim: number, outDim: number,
    pending: Array<() => void>, out: Array<[string, InputRef]>, zeroBias = true): string | null {
  const w = consts.value(d.weight);
  if (!w || w.dtype !== 'float32') return `${name}: weight values are unavailable`;
  const product = (dims: number[]) => dims.reduce((a, b) => a * b, 1);
  const flat = d.flattenedKernel;
  if (flat) {
    const dims = [product(w.shape.slice(0, flat.inAxes)), product(w.shape.slice(flat.inAxes))];
    if (dims.join(',') !== [inDim, outDim].join(',')) return `${name}: kernel [${w.shape}] does not flatten to [${inDim}, ${outDim}]`;
  } else {
    const expected = d.weightTransposed ? [outDim, inDim] : [inDim, outDim];
    if (w.shape.join(',') !== expected.join(',')) return `${name}: weight has shape [${w.shape}], expected [${expected}]`;
  }
  const biasValue = d.bias ? consts.value(d.bias) : undefined;
  if (d.bias && (!biasValue || biasValue.data.length !== outDim)) {
    return `${name}: bias has shape [${biasValue?.shape ?? '?'}], expected ${outDim} values`;
  }
  pending.push(() => {
    const weight = d.weightTransposed ?
        nodes.constant(`${name}Weight`, tf.tidy(() => tf.transpose(tf.tensor2d(w.data as Float32Array, w.shape as [number, number])))) :
        flat ? nodes.constant(`${name}Weight`, tf.tensor2d(w.data as Float32Array, [inDim, outDim])) :
        d.weight;
    // Per-head biases ([H, D]) are flattened to [H·D] like their kernels. Layers of the newer forms (RMSNorm,
    // gated MLP, position bias: T5) leave absent biases absent; the op takes them as zeros.
    if (!d.bias && !zeroBias) {
      out.push([`${name}Weight`, weight]);
      return;
    }
    const bias = !d.bias ? nodes.constant(`${name}Bias`, tf.zeros([outDim])) :
        biasValue && biasValue.shape.length > 1 ? nodes.constant(`${name}Bias`, tf.tensor1d(biasValue.data as Float32Array)) :
        d.bias;
    out.push([`${name}Weight`, weight], [`${name}Bias`, bias]);
  });
  return null;
}

function prepare(m: EncoderLayerMatch, consts: ConstantValues, nodes: NodeFactory): MatchResult<Prepared> {
  if (m.heads === undefined || m.headDim === undefined) return refused('the number of heads is unknown');
  const g = m.ln1.gamma ? consts.value(m.ln1.gamma) : undefined;
  if (m.ln1.gamma && !g) return refused('LayerNorm values are unavailable');
  // An RMSNorm without a gamma (ones folded away by the converter) gives no width: the heads do.
  const embed = g ? g.data.length : m.heads * m.headDim;
  const ffnW = consts.value(m.ffnIn.weight);
  if (!ffnW) return refused('feed-forward weight values are unavailable');
  const ffn = m.ffnIn.weightTransposed ? ffnW.shape[0] : ffnW.shape[1];
  if (m.heads === undefined || m.headDim === undefined) return refused('the number of heads is unknown');
  if (m.heads * m.headDim !== embed) return refused(`heads × head size (${m.heads} × ${m.headDim}) is not the layer width ${embed}`);
  for (const ln of [m.ln1, m.ln2]) {
    if (ln.kind === 'rms' && ln.beta) return refused('an RMSNorm with an offset (beta)');
    if (ln.kind === 'layer' && !ln.beta) return refused('a LayerNorm without an offset (beta)');
    if (!ln.gamma && ln.kind !== 'rms') return refused('a LayerNorm without a gain (gamma)');
    for (const ref of [...(ln.gamma ? [ln.gamma] : []), ...(ln.beta ? [ln.beta] : [])]) {
      if (shapeOf(consts, ref)?.join(',') !== String(embed)) return refused(`LayerNorm parameter '${ref.node}' is not [${embed}]`);
    }
  }
  const pending: Array<() => void> = [];
  const inputs: Array<[string, InputRef]> = [];
  const checks: Array<string | null> = [];
  const zero = !newForm(m);
  if ('packed' in m.qkv) checks.push(denseInputs(consts, nodes, 'qkv', m.qkv.packed, embed, 3 * embed, pending, inputs, zero));
  else {
    checks.push(denseInputs(consts, nodes, 'q', m.qkv.q, embed, embed, pending, inputs, zero));
    checks.push(denseInputs(consts, nodes, 'k', m.qkv.k, embed, embed, pending, inputs, zero));
    checks.push(denseInputs(consts, nodes, 'v', m.qkv.v, embed, embed, pending, inputs, zero));
  }
  checks.push(denseInputs(consts, nodes, 'out', m.outProj, embed, embed, pending, inputs, zero));
  checks.push(denseInputs(consts, nodes, 'ffnIn', m.ffnIn, embed, ffn, pending, inputs, zero));
  checks.push(denseInputs(consts, nodes, 'ffnOut', m.ffnOut, ffn, embed, pending, inputs, zero));
  if (m.gate) checks.push(denseInputs(consts, nodes, 'gate', m.gate, embed, ffn, pending, inputs, zero));
  const problem = checks.find(c => c !== null);
  if (problem) return refused(problem);
  // Only now, with every check passed, add constants to the graph.
  for (const add of pending) add();
  const gammaOf = (ln: EncoderNorm, name: string): InputRef =>
    ln.gamma ?? nodes.constant(name, tf.fill([embed], ln.scale ?? 1));
  inputs.push(['ln1Gamma', gammaOf(m.ln1, 'ln1Gamma')]);
  if (m.ln1.beta) inputs.push(['ln1Beta', m.ln1.beta]);
  inputs.push(['ln2Gamma', gammaOf(m.ln2, 'ln2Gamma')]);
  if (m.ln2.beta) inputs.push(['ln2Beta', m.ln2.beta]);
  return matched({inputs, embed});
}

/** A layer that needs the op's T5-era options (RMSNorm, gated MLP, attention bias). */
function newForm(m: EncoderLayerMatch): boolean {
  return m.normKind === 'rms' || m.gate !== null || m.attentionBias !== null;
}

export function rewriteEncoderLayer(m: EncoderLayerMatch, consts: ConstantValues, nodes: NodeFactory): MatchResult<InputRef> {
  const scale = scaleProduct(consts, m.qScale ? [...m.core.scales, {node: m.core.softmax, ...m.qScale}] : m.core.scales);
  if (!scale.ok) return scale;
  if (m.ln1.eps === undefined || m.ln2.eps === undefined) return refused('LayerNorm epsilon is unknown');
  const prepared = prepare(m, consts, nodes);
  if (!prepared.ok) return prepared;
  const inputs: Array<[string, InputRef]> = [['x', m.input], ...prepared.value.inputs];
  if (m.padding) inputs.push(['keyPaddingMask', m.padding.input]);
  if (m.attentionBias) inputs.push(['attentionBias', m.attentionBias]);
  const fused = nodes.fused('encoder_layer', graphOpName('TransformerEncoderLayer'), inputs, {
    numHeads: intAttr(m.heads as number),
    normFirst: boolAttr(m.normFirst),
    activation: stringAttr(m.activation),
    layerNormEps1: floatAttr(m.ln1.eps),
    layerNormEps2: floatAttr(m.ln2.eps),
    isCausal: boolAttr(m.core.isCausal),
    scale: floatAttr(scale.value),
    // The newer attributes only where they differ from the defaults (other families' graphs stay as they were).
    ...(m.normKind === 'rms' ? {normKind: stringAttr('rms')} : {}),
    ...(m.gate ? {gatedMlp: boolAttr(true)} : {}),
  });
  nodes.rewrite.remove(m.interior, fused.node);
  nodes.rewrite.redirect(m.output, fused);
  // Shape reads of tensors with the layer input's shape (T5 sizes its position bias so) read the input instead.
  m.shapeReaders.forEach((reader, i) => {
    const shape = nodes.op(`input_shape${i}`, 'Shape', [m.input], {
      T: reader.attr?.['T'] ?? {type: 'DT_FLOAT'}, out_type: reader.attr?.['out_type'] ?? {type: 'DT_INT32'},
    });
    nodes.rewrite.remove([reader], shape.node);
    nodes.rewrite.redirect({node: reader.name, output: 0, control: false}, shape);
  });
  return matched(fused);
}
