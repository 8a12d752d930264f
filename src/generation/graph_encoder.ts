/**
 * The fused encoder of an encoder–decoder generator: the layers recognised
 * in the graph (transform/seq2seq/encoder_chain.ts) run as one
 * TransformerEncoderStack call with the source's padding skipped, the
 * embeddings (or audio convolutions) computed by the graph up to the first
 * layer's input, and the final norm after. Weights are the model's own
 * tensors (views where a shape differs); absent biases of LayerNorm encoders
 * are zeros, RMSNorm encoders (T5) leave them absent. T5's relative position
 * bias ([1, H, S, S], shared by every layer) is computed by evaluating the
 * graph's bias subgraph (bucket arithmetic and the Gather on the learned
 * table) for the source length, once per length, and fed to the stack as
 * attentionBias. Forms the fused encoder does not take (activations beyond
 * gelu/gelu_tanh/relu, a bias that is not the same in every layer or reads
 * the source's values) leave the encoder to the graph, with the reason.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {ENCODER_ACTIVATIONS, EncoderActivation} from '../op_table';
import type {TransformerEncoderLayerWeights} from '../ops/encoder_args';
import {layerNorm} from '../ops/layer_norm';
import {rmsNorm} from '../ops/rms_norm';
import {transformerEncoderStack} from '../ops/transformer_encoder_stack';
import {ConstantValues} from '../transform/graph/constant_values';
import {formatInputRef, InputRef, NodeDef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';
import {matchAttentionCore} from '../transform/match/attention_core';
import {evaluateSubgraph} from '../transform/match/evaluate_subgraph';
import type {RecognisedEncoder} from '../transform/seq2seq/encoder_chain';
import {graphWeightReaders} from './graph_weights';

/** How many source lengths' position biases are kept. */
const BIAS_CACHE = 4;

export interface FusedEncoder {
  /** Node name of the first layer's input (what the graph computes before the fused layers). */
  input: string;
  layers: TransformerEncoderLayerWeights[];
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  eps: [number, number];
  scale: number;
  normKind: 'layer' | 'rms';
  /** RMSNorm's has no beta. */
  finalNorm: {gamma: tf.Tensor1D; beta: tf.Tensor1D | null; eps: number} | null;
  /** T5's position bias [1, H, S, S] for a source length S (kept by the encoder; not to be disposed). */
  attentionBias: ((length: number) => tf.Tensor4D) | null;
}

/**
 * The position bias every layer adds to its scores (T5's compute_bias output,
 * before the mask is added), as a function of the source length: evaluated from
 * the graph, where it reads the source only through shapes. Null without one.
 */
function positionBias(view: GraphView, consts: ConstantValues, e: RecognisedEncoder, embed: number, heads: number,
    owned: tf.Tensor[]): ((length: number) => tf.Tensor4D) | null | string {
  const biases = e.layers.map(l => {
    const core = matchAttentionCore(view, consts, l.softmax);
    return core.ok && core.value.positionBias ? formatInputRef(view.resolve(core.value.positionBias.bias).ref) : null;
  });
  if (biases.every(b => b === null)) return null;
  if (biases.some(b => b !== biases[0])) return 'the encoder layers do not all add the same position bias';
  const bias: InputRef = {node: (biases[0] as string).split(':')[0], output: Number((biases[0] as string).split(':')[1] ?? 0), control: false};
  // The bias reads the source through Shape nodes only: they get a [1, S, E] stand-in.
  const shaped: string[] = [];
  const seen = new Set<string>();
  const stack: Array<NodeDef | undefined> = [view.resolve(bias).node];
  while (stack.length > 0 && seen.size < 400) {
    const node = stack.pop();
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (node.op === 'Placeholder') return 'the position bias reads a model input\'s values';
    const inputs = view.dataInputs(node).map(r => view.resolve(r));
    if (node.op === 'Shape') {
      if (inputs[0] && !consts.isConst(inputs[0].ref)) shaped.push(inputs[0].ref.node);
      continue;
    }
    for (const r of inputs) if (!consts.isConst(r.ref)) stack.push(r.node);
  }
  const cache = new Map<number, tf.Tensor4D>();
  const evaluate = (length: number): tf.Tensor4D => {
    const known = cache.get(length);
    if (known) return known;
    const standIn = tf.zeros([1, length, embed]);
    const got = evaluateSubgraph(view, consts, bias, new Map(shaped.map(name => [name, standIn])));
    standIn.dispose();
    if (!got || got.shape.join(',') !== [1, heads, length, length].join(',')) {
      const shape = got ? `[${got.shape.join(', ')}]` : 'nothing';
      got?.dispose();
      throw new Error(`the position bias evaluates to ${shape}, not [1, ${heads}, ${length}, ${length}]`);
    }
    const t = (got.dtype === 'float32' ? got : tf.tidy(() => tf.cast(got, 'float32'))) as tf.Tensor4D;
    if (t !== got) got.dispose();
    tf.keep(t);
    if (cache.size >= BIAS_CACHE) {
      const [oldest, old] = cache.entries().next().value as [number, tf.Tensor4D];
      cache.delete(oldest);
      owned.splice(owned.indexOf(old), 1);
      old.dispose();
    }
    cache.set(length, t);
    owned.push(t);
    return t;
  };
  try {
    evaluate(3);
  } catch (err) {
    return (err as Error).message;
  }
  return evaluate;
}

function refName(ref: InputRef): string {
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

/** The fused encoder's weights, or why the encoder stays in the graph. `heads`: from a probe of q's shape. */
export function buildFusedEncoder(view: GraphView, e: RecognisedEncoder, weightMap: Record<string, tf.Tensor[]>,
    heads: number, owned: tf.Tensor[]): FusedEncoder | string {
  const first = e.layers[0];
  const norms = e.layers.flatMap(l => [l.norm1, l.norm2]).concat(e.finalNorm ? [e.finalNorm] : []);
  const normKind = first.norm1?.kind ?? 'layer';
  if (norms.some(n => !n || n.kind !== normKind)) return 'the encoder\'s norms are not all LayerNorms or all RMSNorms';
  if (normKind === 'rms' && norms.some(n => n?.beta)) return 'an RMSNorm of the encoder has an offset (beta)';
  const gated = first.mlp.gate !== null;
  if (e.layers.some(l => (l.mlp.gate !== null) !== gated)) return 'the encoder\'s MLPs are gated in some layers only';
  if (e.layers.some(l => l.q.rotary || l.k.past)) return 'the encoder has rotary embeddings or a past';
  const activation = first.mlp.activation as EncoderActivation;
  if (!ENCODER_ACTIVATIONS.includes(activation)) return `the encoder's activation ${first.mlp.activation} is not one the fused encoder takes`;
  if (e.layers.some(l => l.mlp.activation !== activation || l.normFirst !== first.normFirst || l.packed !== first.packed ||
      Math.fround(l.scale) !== Math.fround(first.scale))) {
    return 'the encoder layers are not all of one form';
  }
  const readers = graphWeightReaders(view, weightMap, owned);
  const matrix = (ref: InputRef, transposed: boolean, rows: number, cols: number): tf.Tensor2D => {
    if (transposed) throw new Error(`the weight '${ref.node}' is stored [out, in]`);
    return readers.matrix(ref, rows, cols);
  };
  // LayerNorm encoders get zeros for absent biases (as before); RMSNorm encoders (T5) leave them absent.
  const optional = (ref: InputRef | null, n: number): tf.Tensor1D | undefined =>
    ref || normKind === 'layer' ? vector(ref, n) : undefined;
  const filled = new Map<string, tf.Tensor1D>();
  const vector = (ref: InputRef | null, n: number, fill = 0): tf.Tensor1D => {
    if (!ref) {
      const key = `${n}:${fill}`;
      if (!filled.has(key)) {
        const t = tf.fill([n], fill) as tf.Tensor1D;
        owned.push(t);
        filled.set(key, t);
      }
      return filled.get(key) as tf.Tensor1D;
    }
    return readers.vector(ref, n) as tf.Tensor1D;
  };
  const columns = (ref: InputRef): number => {
    const dims = view.resolve(ref).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
    return dims.length === 0 ? 0 : dims.slice(1).reduce((a, b) => a * b, 1);
  };
  const dims = view.resolve(first.outProj.weight).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
  const embed = dims[dims.length - 1];
  if (!(embed > 0) || embed % heads !== 0) return `cannot make ${heads} heads of the encoder's width ${embed}`;
  const consts = new ConstantValues(view, name => weightMap[name]?.[0]);
  const attentionBias = positionBias(view, consts, e, embed, heads, owned);
  if (typeof attentionBias === 'string') return attentionBias;
  try {
    const layers = e.layers.map(l => {
      const ffn = columns(l.mlp.up.weight);
      const norm1 = l.norm1 as NonNullable<typeof l.norm1>, norm2 = l.norm2 as NonNullable<typeof l.norm2>;
      const given: Record<string, tf.Tensor | undefined> = {
        outWeight: matrix(l.outProj.weight, l.outProj.weightTransposed, embed, embed), outBias: optional(l.outProj.bias, embed),
        ln1Gamma: vector(norm1.gamma, embed, norm1.scale ?? 1), ln1Beta: optional(norm1.beta, embed),
        ln2Gamma: vector(norm2.gamma, embed, norm2.scale ?? 1), ln2Beta: optional(norm2.beta, embed),
        ffnInWeight: matrix(l.mlp.up.weight, l.mlp.up.weightTransposed, embed, ffn), ffnInBias: optional(l.mlp.up.bias, ffn),
        ffnOutWeight: matrix(l.mlp.down.weight, l.mlp.down.weightTransposed, ffn, embed),
        ffnOutBias: optional(l.mlp.down.bias, embed),
      };
      if (l.mlp.gate) {
        given['gateWeight'] = matrix(l.mlp.gate.weight, l.mlp.gate.weightTransposed, embed, ffn);
        given['gateBias'] = l.mlp.gate.bias ? vector(l.mlp.gate.bias, ffn) : undefined;
      }
      if (l.packed) {
        given['qkvWeight'] = matrix(l.q.dense.weight, l.q.dense.weightTransposed, embed, 3 * embed);
        given['qkvBias'] = optional(l.q.dense.bias, 3 * embed);
      } else {
        given['qWeight'] = matrix(l.q.dense.weight, l.q.dense.weightTransposed, embed, embed);
        given['kWeight'] = matrix(l.k.dense.weight, l.k.dense.weightTransposed, embed, embed);
        given['vWeight'] = matrix(l.v.dense.weight, l.v.dense.weightTransposed, embed, embed);
        given['qBias'] = optional(l.q.dense.bias, embed);
        given['kBias'] = optional(l.k.dense.bias, embed);
        given['vBias'] = optional(l.v.dense.bias, embed);
      }
      // Absent entries are left out (the op takes absent optional weights as zeros).
      const w: Record<string, tf.Tensor> = {};
      for (const [name, t] of Object.entries(given)) if (t) w[name] = t;
      return w as unknown as TransformerEncoderLayerWeights;
    });
    const eps1 = (first.norm1 as NonNullable<typeof first.norm1>).eps, eps2 = (first.norm2 as NonNullable<typeof first.norm2>).eps;
    if (e.layers.some(l => l.norm1?.eps !== eps1 || l.norm2?.eps !== eps2)) return 'the encoder layers\' norms use different epsilons';
    return {
      input: refName(view.resolve(e.input).ref), layers, numHeads: heads, normFirst: first.normFirst, activation,
      eps: [eps1, eps2], scale: first.scale, normKind, attentionBias,
      finalNorm: e.finalNorm ? {
        gamma: vector(e.finalNorm.gamma, embed, e.finalNorm.scale ?? 1), beta: normKind === 'rms' ? null : vector(e.finalNorm.beta, embed),
        eps: e.finalNorm.eps,
      } : null,
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The fused encoder on embeddings [B, S, E] with the source's mask (null: no padding). */
export function runFusedEncoder(encoder: FusedEncoder, embeddings: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Tensor3D {
  // Evaluated outside the tidy: the encoder keeps each length's bias for later sources.
  const bias = encoder.attentionBias ? encoder.attentionBias(embeddings.shape[1]) : null;
  return tf.tidy(() => {
    const options = {
      numHeads: encoder.numHeads, normFirst: encoder.normFirst, activation: encoder.activation, layerNormEps: encoder.eps,
      scale: encoder.scale, ...(mask ? {keyPaddingMask: mask} : {}),
      ...(encoder.normKind === 'rms' ? {normKind: 'rms' as const} : {}),
      ...(bias ? {attentionBias: bias} : {}),
    };
    const y = transformerEncoderStack(embeddings, encoder.layers, options);
    const f = encoder.finalNorm;
    if (!f) return y;
    return f.beta ? layerNorm(y, f.gamma, f.beta, {epsilon: f.eps}) : rmsNorm(y, f.gamma, {epsilon: f.eps});
  });
}

export type {GraphModel};
