/**
 * The ops a rewritten GraphModel calls, registered with tfjs-converter's
 * `registerOp` (so loading a converted-and-rewritten model needs this package
 * imported). Their attributes are plain GraphDef attrs written by
 * `rewrite/node_builders.ts`; string attrs arrive lower-cased from the converter.
 */
import * as tf from '@tensorflow/tfjs-core';
import {registerOp} from '@tensorflow/tfjs-converter';
import {scaledDotProductAttention} from '../ops/scaled_dot_product_attention';
import {transformerEncoderLayer, TransformerEncoderLayerWeights} from '../ops/transformer_encoder_layer';
import type {EncoderActivation} from '../kernel_names';
import {transformerEncoderStack} from '../ops/transformer_encoder_stack';
import {layerNormRows} from '../portable/layer_norm';
import {embeddingSumRows} from '../portable/embedding_sum';
import {layerNorm} from '../composite/encoder_layer';

export const GRAPH_ATTENTION_OP = 'BetterTransformerAttention';
export const GRAPH_ENCODER_LAYER_OP = 'BetterTransformerEncoderLayer';
export const GRAPH_ENCODER_STACK_OP = 'BetterTransformerEncoderStack';
/** A LayerNorm over the last axis outside the fused layers (e.g. after the embeddings). */
export const GRAPH_LAYER_NORM_OP = 'BetterTransformerLayerNorm';
/** A sum of embedding-table lookups, optionally followed by a LayerNorm (BERT's embeddings). */
export const GRAPH_EMBEDDINGS_OP = 'BetterTransformerEmbeddings';
/** The shape [B, H, Sq, Sk] of the attention scores a fused block no longer materialises. */
export const GRAPH_SCORES_SHAPE_OP = 'BetterTransformerScoresShape';

type AttrMap = Record<string, unknown>;
interface ExecutorNode {
  inputs: tf.Tensor[];
  attrs: AttrMap;
}

/** Names of the encoder layer's weight inputs, as written in the node's `inputs` attr. */
export const ENCODER_GRAPH_WEIGHTS = [
  'qWeight', 'qBias', 'kWeight', 'kBias', 'vWeight', 'vBias', 'qkvWeight', 'qkvBias',
  'outWeight', 'outBias', 'ln1Gamma', 'ln1Beta', 'ln2Gamma', 'ln2Beta',
  'ffnInWeight', 'ffnInBias', 'ffnOutWeight', 'ffnOutBias',
] as const;
const CANONICAL_INPUT = new Map<string, string>(
    ['x', 'q', 'k', 'v', 'keyPaddingMask', 'attnMask', ...ENCODER_GRAPH_WEIGHTS].map(name => [name.toLowerCase(), name]));

/** Maps the node's inputs to their names, from the comma-separated `inputs` attr. */
function namedInputs(node: ExecutorNode, op: string): Record<string, tf.Tensor> {
  const names = String(node.attrs['inputs'] ?? '').split(',').filter(s => s.length > 0);
  if (names.length !== node.inputs.length) {
    throw new Error(`${op}: the node lists ${names.length} input names but has ${node.inputs.length} inputs`);
  }
  const out: Record<string, tf.Tensor> = {};
  names.forEach((raw, i) => {
    const name = CANONICAL_INPUT.get(raw.toLowerCase());
    if (!name) throw new Error(`${op}: unknown input name '${raw}'`);
    out[name] = node.inputs[i];
  });
  return out;
}

function attentionExecutor(node: ExecutorNode): tf.Tensor {
  const inputs = namedInputs(node, GRAPH_ATTENTION_OP);
  const maskKind = String(node.attrs['mask_kind'] ?? 'none').toLowerCase();
  let attnMask: tf.Tensor | undefined;
  if (maskKind !== 'none') {
    const mask = inputs['attnMask'];
    if (!mask) throw new Error(`${GRAPH_ATTENTION_OP}: mask_kind is '${maskKind}' but there is no attnMask input`);
    attnMask = maskKind === 'bool' && mask.dtype !== 'bool' ? tf.cast(mask, 'bool') : mask;
  }
  const out = scaledDotProductAttention(
      inputs['q'] as tf.Tensor4D, inputs['k'] as tf.Tensor4D, inputs['v'] as tf.Tensor4D,
      {attnMask, isCausal: node.attrs['is_causal'] === true, scale: Number(node.attrs['scale'])});
  if (attnMask && attnMask !== inputs['attnMask']) attnMask.dispose();
  return out;
}

/** The layer options both encoder nodes carry as attributes (written by rewrite/node_builders.ts). */
function encoderOptions(node: ExecutorNode) {
  return {
    numHeads: Number(node.attrs['num_heads']),
    normFirst: node.attrs['norm_first'] === true,
    activation: String(node.attrs['activation']).toLowerCase() as EncoderActivation,
    layerNormEps: [Number(node.attrs['eps1']), Number(node.attrs['eps2'])] as [number, number],
    isCausal: node.attrs['is_causal'] === true,
    scale: Number(node.attrs['scale']),
  };
}

function encoderLayerExecutor(node: ExecutorNode): tf.Tensor {
  const inputs = namedInputs(node, GRAPH_ENCODER_LAYER_OP);
  const weights: Record<string, tf.Tensor> = {};
  for (const name of ENCODER_GRAPH_WEIGHTS) if (inputs[name]) weights[name] = inputs[name];
  return transformerEncoderLayer(inputs['x'] as tf.Tensor3D, weights as unknown as TransformerEncoderLayerWeights, {
    ...encoderOptions(node), keyPaddingMask: inputs['keyPaddingMask'] as tf.Tensor2D | undefined,
  });
}

/**
 * A chain of encoder layers with one set of options, run as one
 * transformerEncoderStack (padding removed once). Inputs are x,
 * keyPaddingMask and `l<i>.<weight>` for each layer.
 */
function encoderStackExecutor(node: ExecutorNode): tf.Tensor {
  const names = String(node.attrs['inputs'] ?? '').split(',');
  if (names.length !== node.inputs.length) throw new Error(`${GRAPH_ENCODER_STACK_OP}: input names do not match the inputs`);
  const count = Number(node.attrs['num_layers']);
  const layers: Array<Record<string, tf.Tensor>> = Array.from({length: count}, () => ({}));
  let x: tf.Tensor | undefined;
  let keyPaddingMask: tf.Tensor | undefined;
  names.forEach((raw, i) => {
    const lower = raw.toLowerCase();
    if (lower === 'x') x = node.inputs[i];
    else if (lower === 'keypaddingmask') keyPaddingMask = node.inputs[i];
    else {
      const m = /^l(\d+)\.(.+)$/.exec(lower);
      const name = m ? CANONICAL_INPUT.get(m[2]) : undefined;
      if (!m || !name || Number(m[1]) >= count) throw new Error(`${GRAPH_ENCODER_STACK_OP}: unknown input '${raw}'`);
      layers[Number(m[1])][name] = node.inputs[i];
    }
  });
  if (!x) throw new Error(`${GRAPH_ENCODER_STACK_OP}: no x input`);
  return transformerEncoderStack(x as tf.Tensor3D, layers as unknown as TransformerEncoderLayerWeights[], {
    ...encoderOptions(node), keyPaddingMask: keyPaddingMask as tf.Tensor2D | undefined,
  });
}

/**
 * On `cpu` one pass over the rows (the converter's 10-op decomposition costs
 * ten broadcasting tfjs-cpu ops); elsewhere the same formula in tfjs ops.
 */
function layerNormExecutor(node: ExecutorNode): tf.Tensor {
  const [x, gamma, beta] = node.inputs;
  const eps = Number(node.attrs['eps']);
  const width = x.shape[x.rank - 1];
  if (gamma.size !== width || beta.size !== width) {
    throw new Error(`${GRAPH_LAYER_NORM_OP}: gamma and beta need ${width} values, got ${gamma.size} and ${beta.size}`);
  }
  if (tf.getBackend() === 'cpu' && x.dtype === 'float32') {
    const out = new Float32Array(x.size);
    layerNormRows(x.dataSync() as Float32Array, x.size / width, width, gamma.dataSync() as Float32Array,
        beta.dataSync() as Float32Array, eps, out);
    return tf.tensor(out, x.shape, 'float32');
  }
  return layerNorm(x, gamma, beta, eps);
}

/**
 * Inputs by name (the `inputs` attr): `table<k>` + `indices<k>` for a lookup
 * term, `constant<k>` for a constant [..., width] term, summed in k order;
 * then `gamma` and `beta` when has_norm. On `cpu` one pass over the output
 * rows (a tfjs-cpu gather computes a strided index per element, and each add
 * broadcasts); elsewhere gathers, adds and the LayerNorm in tfjs ops.
 */
function embeddingsExecutor(node: ExecutorNode): tf.Tensor {
  const names = String(node.attrs['inputs'] ?? '').split(',').filter(n => n.length > 0);
  if (names.length !== node.inputs.length) throw new Error(`${GRAPH_EMBEDDINGS_OP}: input names do not match the inputs`);
  const byName = new Map(names.map((name, i) => [name.toLowerCase(), node.inputs[i]]));
  type Term = {table: tf.Tensor; indices?: tf.Tensor};
  const terms: Term[] = [];
  for (let k = 0; byName.has(`table${k}`) || byName.has(`constant${k}`); k++) {
    const table = byName.get(`table${k}`), indices = byName.get(`indices${k}`), constant = byName.get(`constant${k}`);
    if (table && indices) terms.push({table, indices});
    else if (constant) terms.push({table: constant});
    else throw new Error(`${GRAPH_EMBEDDINGS_OP}: term ${k} has a table but no indices`);
  }
  const first = terms.find(t => t.indices);
  if (!first) throw new Error(`${GRAPH_EMBEDDINGS_OP}: no table lookup`);
  const width = first.table.shape[first.table.rank - 1] ?? 0;
  if (terms.some(t => t.table.shape[t.table.rank - 1] !== width || (t.indices && t.table.rank !== 2))) {
    throw new Error(`${GRAPH_EMBEDDINGS_OP}: every table must be [rows, ${width}] and every constant [..., ${width}]`);
  }
  const hasNorm = node.attrs['has_norm'] === true;
  const [gamma, beta] = [byName.get('gamma'), byName.get('beta')];
  if (hasNorm && (!gamma || !beta || gamma.size !== width || beta.size !== width)) {
    throw new Error(`${GRAPH_EMBEDDINGS_OP}: gamma and beta need ${width} values`);
  }
  const eps = Number(node.attrs['eps']);
  if (tf.getBackend() === 'cpu' && terms.every(t => t.table.dtype === 'float32')) {
    // A constant term is a table indexed by its own row positions.
    const {values, rowShape} = embeddingSumRows(terms.map(t => ({
      table: {values: t.table.dataSync() as Float32Array, rows: t.table.size / width},
      indices: t.indices ? {values: t.indices.dataSync(), shape: t.indices.shape} : rowPositions(t.table.shape.slice(0, -1)),
    })), width, GRAPH_EMBEDDINGS_OP);
    if (hasNorm && gamma && beta) {
      layerNormRows(values, values.length / width, width, gamma.dataSync() as Float32Array, beta.dataSync() as Float32Array, eps, values);
    }
    return tf.tensor(values, [...rowShape, width], 'float32');
  }
  return tf.tidy(() => {
    const termValue = (t: Term) => t.indices ? tf.gather(t.table, t.indices) : t.table;
    let sum = termValue(terms[0]);
    for (let i = 1; i < terms.length; i++) sum = tf.add(sum, termValue(terms[i]));
    return hasNorm && gamma && beta ? layerNorm(sum, gamma, beta, eps) : sum;
  });
}

/** Indices 0..n-1 in the given shape. */
function rowPositions(shape: number[]): {values: Int32Array; shape: number[]} {
  const count = shape.reduce((a, b) => a * b, 1);
  return {values: Int32Array.from({length: count}, (_, i) => i), shape};
}

function scoresShapeExecutor(node: ExecutorNode): tf.Tensor {
  const [q, k] = node.inputs;
  const shape = [...q.shape.slice(0, -1), k.shape[k.rank - 2]];
  return tf.tensor1d(shape, 'int32');
}

let registered = false;

export function registerGraphOps(): void {
  if (registered) return;
  registered = true;
  registerOp(GRAPH_ATTENTION_OP, node => attentionExecutor(node as unknown as ExecutorNode));
  registerOp(GRAPH_ENCODER_LAYER_OP, node => encoderLayerExecutor(node as unknown as ExecutorNode));
  registerOp(GRAPH_ENCODER_STACK_OP, node => encoderStackExecutor(node as unknown as ExecutorNode));
  registerOp(GRAPH_LAYER_NORM_OP, node => layerNormExecutor(node as unknown as ExecutorNode));
  registerOp(GRAPH_EMBEDDINGS_OP, node => embeddingsExecutor(node as unknown as ExecutorNode));
  registerOp(GRAPH_SCORES_SHAPE_OP, node => scoresShapeExecutor(node as unknown as ExecutorNode));
}
