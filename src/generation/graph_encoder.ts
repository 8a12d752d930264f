/**
 * The fused encoder of an encoder–decoder generator: the layers recognised
 * in the graph (transform/seq2seq/encoder_chain.ts) run as one
 * TransformerEncoderStack call with the source's padding skipped, the
 * embeddings (or audio convolutions) computed by the graph up to the first
 * layer's input, and the final LayerNorm after. Weights are the model's own
 * tensors (views where a shape differs); absent biases are zeros (the fused
 * op takes every bias). Forms the fused encoder does not take (RMSNorm, gated
 * MLPs, learned position biases: T5; activations beyond gelu/gelu_tanh/relu)
 * leave the encoder to the graph, with the reason.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {ENCODER_ACTIVATIONS, EncoderActivation} from '../op_table';
import type {TransformerEncoderLayerWeights} from '../ops/encoder_args';
import {layerNorm} from '../ops/layer_norm';
import {transformerEncoderStack} from '../ops/transformer_encoder_stack';
import {InputRef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';
import type {RecognisedEncoder} from '../transform/seq2seq/encoder_chain';

export interface FusedEncoder {
  /** Node name of the first layer's input (what the graph computes before the fused layers). */
  input: string;
  layers: TransformerEncoderLayerWeights[];
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  eps: [number, number];
  scale: number;
  finalNorm: {gamma: tf.Tensor1D; beta: tf.Tensor1D; eps: number} | null;
}

function refName(ref: InputRef): string {
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

/** The fused encoder's weights, or why the encoder stays in the graph. `heads`: from a probe of q's shape. */
export function buildFusedEncoder(view: GraphView, e: RecognisedEncoder, weightMap: Record<string, tf.Tensor[]>,
    heads: number, owned: tf.Tensor[]): FusedEncoder | string {
  const first = e.layers[0];
  const norms = e.layers.flatMap(l => [l.norm1, l.norm2]).concat(e.finalNorm ? [e.finalNorm] : []);
  if (norms.some(n => !n || n.kind !== 'layer')) return 'the encoder\'s norms are not LayerNorms (the fused encoder takes LayerNorm)';
  if (e.layers.some(l => l.mlp.gate)) return 'the encoder\'s MLP is gated (the fused encoder takes up·act·down)';
  if (e.layers.some(l => l.q.rotary || l.k.past)) return 'the encoder has rotary embeddings or a past';
  const activation = first.mlp.activation as EncoderActivation;
  if (!ENCODER_ACTIVATIONS.includes(activation)) return `the encoder's activation ${first.mlp.activation} is not one the fused encoder takes`;
  if (e.layers.some(l => l.mlp.activation !== activation || l.normFirst !== first.normFirst || l.packed !== first.packed ||
      Math.fround(l.scale) !== Math.fround(first.scale))) {
    return 'the encoder layers are not all of one form';
  }
  const constant = (ref: InputRef): tf.Tensor => {
    const node = view.resolve(ref).node;
    const t = node ? weightMap[node.name]?.[0] : undefined;
    if (!t) throw new Error(`the weight '${ref.node}' is not loaded`);
    if (t.dtype !== 'float32') throw new Error(`the weight '${ref.node}' is ${t.dtype}, not float32`);
    return t;
  };
  const matrix = (ref: InputRef, transposed: boolean, rows: number, cols: number): tf.Tensor2D => {
    if (transposed) throw new Error(`the weight '${ref.node}' is stored [out, in]`);
    const t = constant(ref);
    if (t.rank === 2 && t.shape[0] === rows && t.shape[1] === cols) return t as tf.Tensor2D;
    if (t.size !== rows * cols) throw new Error(`the weight '${ref.node}' [${t.shape.join(', ')}] is not [${rows}, ${cols}]`);
    const v = tf.reshape(t, [rows, cols]) as tf.Tensor2D;
    owned.push(v);
    return v;
  };
  const zeros = new Map<number, tf.Tensor1D>();
  const vector = (ref: InputRef | null, n: number, fill = 0): tf.Tensor1D => {
    if (!ref) {
      const key = fill === 0 ? n : -n;
      if (!zeros.has(key)) {
        const t = (fill === 0 ? tf.zeros([n]) : tf.ones([n])) as tf.Tensor1D;
        owned.push(t);
        zeros.set(key, t);
      }
      return zeros.get(key) as tf.Tensor1D;
    }
    const t = constant(ref);
    if (t.size !== n) throw new Error(`the vector '${ref.node}' has ${t.size} elements, not ${n}`);
    if (t.rank === 1) return t as tf.Tensor1D;
    const v = tf.reshape(t, [n]) as tf.Tensor1D;
    owned.push(v);
    return v;
  };
  const columns = (ref: InputRef): number => {
    const dims = view.resolve(ref).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
    return dims.length === 0 ? 0 : dims.slice(1).reduce((a, b) => a * b, 1);
  };
  const dims = view.resolve(first.outProj.weight).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
  const embed = dims[dims.length - 1];
  if (!(embed > 0) || embed % heads !== 0) return `cannot make ${heads} heads of the encoder's width ${embed}`;
  try {
    const layers = e.layers.map(l => {
      const ffn = columns(l.mlp.up.weight);
      const norm1 = l.norm1 as NonNullable<typeof l.norm1>, norm2 = l.norm2 as NonNullable<typeof l.norm2>;
      const w: TransformerEncoderLayerWeights = {
        outWeight: matrix(l.outProj.weight, l.outProj.weightTransposed, embed, embed), outBias: vector(l.outProj.bias, embed),
        ln1Gamma: vector(norm1.gamma, embed, 1), ln1Beta: vector(norm1.beta, embed),
        ln2Gamma: vector(norm2.gamma, embed, 1), ln2Beta: vector(norm2.beta, embed),
        ffnInWeight: matrix(l.mlp.up.weight, l.mlp.up.weightTransposed, embed, ffn), ffnInBias: vector(l.mlp.up.bias, ffn),
        ffnOutWeight: matrix(l.mlp.down.weight, l.mlp.down.weightTransposed, ffn, embed), ffnOutBias: vector(l.mlp.down.bias, embed),
      };
      if (l.packed) {
        w.qkvWeight = matrix(l.q.dense.weight, l.q.dense.weightTransposed, embed, 3 * embed);
        w.qkvBias = vector(l.q.dense.bias, 3 * embed);
      } else {
        w.qWeight = matrix(l.q.dense.weight, l.q.dense.weightTransposed, embed, embed);
        w.kWeight = matrix(l.k.dense.weight, l.k.dense.weightTransposed, embed, embed);
        w.vWeight = matrix(l.v.dense.weight, l.v.dense.weightTransposed, embed, embed);
        w.qBias = vector(l.q.dense.bias, embed);
        w.kBias = vector(l.k.dense.bias, embed);
        w.vBias = vector(l.v.dense.bias, embed);
      }
      return w;
    });
    const eps1 = (first.norm1 as NonNullable<typeof first.norm1>).eps, eps2 = (first.norm2 as NonNullable<typeof first.norm2>).eps;
    if (e.layers.some(l => l.norm1?.eps !== eps1 || l.norm2?.eps !== eps2)) return 'the encoder layers\' norms use different epsilons';
    return {
      input: refName(view.resolve(e.input).ref), layers, numHeads: heads, normFirst: first.normFirst, activation,
      eps: [eps1, eps2], scale: first.scale,
      finalNorm: e.finalNorm ? {gamma: vector(e.finalNorm.gamma, embed, 1), beta: vector(e.finalNorm.beta, embed), eps: e.finalNorm.eps} : null,
    };
  } catch (err) {
    return (err as Error).message;
  }
}

/** The fused encoder on embeddings [B, S, E] with the source's mask (null: no padding). */
export function runFusedEncoder(encoder: FusedEncoder, embeddings: tf.Tensor3D, mask: tf.Tensor2D | null): tf.Tensor3D {
  return tf.tidy(() => {
    const y = transformerEncoderStack(embeddings, encoder.layers, {
      numHeads: encoder.numHeads, normFirst: encoder.normFirst, activation: encoder.activation, layerNormEps: encoder.eps,
      scale: encoder.scale, ...(mask ? {keyPaddingMask: mask} : {}),
    });
    const f = encoder.finalNorm;
    return f ? layerNorm(y, f.gamma, f.beta, {epsilon: f.eps}) : y;
  });
}

export type {GraphModel};
