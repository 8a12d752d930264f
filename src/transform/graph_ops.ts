/**
 * The executors of the GraphDef ops a rewritten GraphModel calls (every op the
 * op table marks `graphOp`), registered with tfjs-converter's `registerOp` so
 * loading a rewritten model needs this package imported. A node carries the
 * op's name (`opNames(op).graphOp`) and its kernel attributes under the same
 * names; its inputs are named by the comma-separated `inputs` attr (optional
 * ones may be absent). Each executor calls the public op, so a node gets the
 * same validation and dispatch as a direct call. String attrs arrive
 * lower-cased from the converter.
 */
import * as tf from '@tensorflow/tfjs-core';
import {registerOp} from '@tensorflow/tfjs-converter';
import {attentionScoresShape} from '../ops/attention_scores_shape';
import {embeddingSum, EmbeddingTerm} from '../ops/embedding_sum';
import {layerNorm} from '../ops/layer_norm';
import {relativePositionBias} from '../ops/relative_position_bias';
import {rmsNorm} from '../ops/rms_norm';
import {scaledDotProductAttention} from '../ops/scaled_dot_product_attention';
import {transformerEncoderLayer, TransformerEncoderLayerWeights} from '../ops/transformer_encoder_layer';
import {transformerEncoderStack} from '../ops/transformer_encoder_stack';
import {EncoderActivation, ENCODER_WEIGHT_INPUTS, graphOpName, OP_NAMES, OpName, OPS} from '../op_table';

type AttrMap = Record<string, unknown>;
interface ExecutorNode {
  inputs: tf.Tensor[];
  attrs: AttrMap;
}
type Executor = (node: ExecutorNode) => tf.Tensor;

/** Names a node's inputs may have: the ops' input names, matched without regard to case. */
const CANONICAL_INPUT = new Map<string, string>(
    ['x', 'q', 'k', 'v', 'keyPaddingMask', 'attnMask', 'attentionBias', 'gamma', 'beta', 'gateWeight', 'gateBias',
      ...ENCODER_WEIGHT_INPUTS]
        .map(name => [name.toLowerCase(), name]));

/** The node's inputs by name, from its comma-separated `inputs` attr. */
function inputNames(node: ExecutorNode, op: string): string[] {
  const names = String(node.attrs['inputs'] ?? '').split(',').filter(s => s.length > 0);
  if (names.length !== node.inputs.length) {
    throw new Error(`${op}: the node lists ${names.length} input names but has ${node.inputs.length} inputs`);
  }
  return names;
}

function namedInputs(node: ExecutorNode, op: string): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  inputNames(node, op).forEach((raw, i) => {
    const name = CANONICAL_INPUT.get(raw.toLowerCase());
    if (!name) throw new Error(`${op}: unknown input name '${raw}'`);
    out[name] = node.inputs[i];
  });
  return out;
}

function attentionExecutor(node: ExecutorNode): tf.Tensor {
  const op = graphOpName('ScaledDotProductAttention');
  const inputs = namedInputs(node, op);
  const maskKind = String(node.attrs['maskKind'] ?? 'none').toLowerCase();
  let attnMask: tf.Tensor | undefined;
  if (maskKind !== 'none') {
    const mask = inputs['attnMask'];
    if (!mask) throw new Error(`${op}: maskKind is '${maskKind}' but there is no attnMask input`);
    attnMask = maskKind === 'bool' && mask.dtype !== 'bool' ? tf.cast(mask, 'bool') : mask;
  }
  const out = scaledDotProductAttention(
      inputs['q'] as tf.Tensor4D, inputs['k'] as tf.Tensor4D, inputs['v'] as tf.Tensor4D,
      {attnMask, isCausal: node.attrs['isCausal'] === true, scale: Number(node.attrs['scale'])});
  if (attnMask && attnMask !== inputs['attnMask']) attnMask.dispose();
  return out;
}

/** Per-layer weight inputs of the encoder ops (the T5 forms' gate too). */
const ENCODER_LAYER_WEIGHTS: readonly string[] = [...new Set<string>([...ENCODER_WEIGHT_INPUTS, 'gateWeight', 'gateBias'])];

/** The layer options both encoder nodes carry as attributes. */
function encoderOptions(node: ExecutorNode) {
  // RMSNorm (T5) only where the node says so: nodes written before normKind existed are LayerNorm layers.
  const normKind = String(node.attrs['normKind'] ?? '').toLowerCase();
  return {
    ...(normKind === 'rms' ? {normKind: 'rms' as const} : {}),
    numHeads: Number(node.attrs['numHeads']),
    normFirst: node.attrs['normFirst'] === true,
    activation: String(node.attrs['activation']).toLowerCase() as EncoderActivation,
    layerNormEps: [Number(node.attrs['layerNormEps1']), Number(node.attrs['layerNormEps2'])] as [number, number],
    isCausal: node.attrs['isCausal'] === true,
    scale: Number(node.attrs['scale']),
  };
}

function encoderLayerExecutor(node: ExecutorNode): tf.Tensor {
  const inputs = namedInputs(node, graphOpName('TransformerEncoderLayer'));
  const weights: Record<string, tf.Tensor> = {};
  for (const name of ENCODER_LAYER_WEIGHTS) if (inputs[name]) weights[name] = inputs[name];
  const options = {
    ...encoderOptions(node), keyPaddingMask: inputs['keyPaddingMask'] as tf.Tensor2D | undefined,
    ...(inputs['attentionBias'] ? {attentionBias: inputs['attentionBias'] as tf.Tensor4D} : {}),
  };
  return transformerEncoderLayer(inputs['x'] as tf.Tensor3D, weights as unknown as TransformerEncoderLayerWeights, options);
}

/** Inputs are x, keyPaddingMask and `l<i>.<weight>` for each of the numLayers layers. */
function encoderStackExecutor(node: ExecutorNode): tf.Tensor {
  const op = graphOpName('TransformerEncoderStack');
  const count = Number(node.attrs['numLayers']);
  const layers: Array<Record<string, tf.Tensor>> = Array.from({length: count}, () => ({}));
  let x: tf.Tensor | undefined;
  let keyPaddingMask: tf.Tensor | undefined;
  let attentionBias: tf.Tensor | undefined;
  inputNames(node, op).forEach((raw, i) => {
    const lower = raw.toLowerCase();
    if (lower === 'x') x = node.inputs[i];
    else if (lower === 'keypaddingmask') keyPaddingMask = node.inputs[i];
    else if (lower === 'attentionbias') attentionBias = node.inputs[i];
    else {
      const m = /^l(\d+)\.(.+)$/.exec(lower);
      const name = m ? CANONICAL_INPUT.get(m[2]) : undefined;
      if (!m || !name || Number(m[1]) >= count) throw new Error(`${op}: unknown input '${raw}'`);
      layers[Number(m[1])][name] = node.inputs[i];
    }
  });
  if (!x) throw new Error(`${op}: no x input`);
  const options = {
    ...encoderOptions(node), keyPaddingMask: keyPaddingMask as tf.Tensor2D | undefined,
    ...(attentionBias ? {attentionBias: attentionBias as tf.Tensor4D} : {}),
  };
  return transformerEncoderStack(x as tf.Tensor3D, layers as unknown as TransformerEncoderLayerWeights[], options);
}

/** A LayerNorm parameter as the op takes it, [W]; graphs may keep it as [1, ..., W]. */
function asVector(t: tf.Tensor | undefined): tf.Tensor1D | undefined {
  return t && t.rank !== 1 ? tf.reshape(t, [t.size]) : t as tf.Tensor1D | undefined;
}

function layerNormExecutor(node: ExecutorNode): tf.Tensor {
  const {x, gamma, beta} = namedInputs(node, graphOpName('LayerNorm'));
  return tf.tidy(() => layerNorm(x, asVector(gamma) as tf.Tensor1D, asVector(beta) as tf.Tensor1D,
      {epsilon: Number(node.attrs['epsilon'])}));
}

function rmsNormExecutor(node: ExecutorNode): tf.Tensor {
  const {x, gamma} = namedInputs(node, graphOpName('RmsNorm'));
  return tf.tidy(() => rmsNorm(x, asVector(gamma) as tf.Tensor1D, {epsilon: Number(node.attrs['epsilon'])}));
}

/**
 * Inputs by name: `table<k>` + `indices<k>` for a lookup term, `constant<k>`
 * for a constant term, summed in k order; then `gamma` and `beta` when
 * hasNorm.
 */
function embeddingSumExecutor(node: ExecutorNode): tf.Tensor {
  const op = graphOpName('EmbeddingSum');
  const byName = new Map(inputNames(node, op).map((name, i) => [name.toLowerCase(), node.inputs[i]]));
  const terms: EmbeddingTerm[] = [];
  for (let k = 0; byName.has(`table${k}`) || byName.has(`constant${k}`); k++) {
    const table = byName.get(`table${k}`), indices = byName.get(`indices${k}`), constant = byName.get(`constant${k}`);
    if (table && indices) terms.push({table, indices});
    else if (constant) terms.push({table: constant});
    else throw new Error(`${op}: term ${k} has a table but no indices`);
  }
  const hasNorm = node.attrs['hasNorm'] === true;
  return tf.tidy(() => embeddingSum(terms, hasNorm ? {
    gamma: asVector(byName.get('gamma')), beta: asVector(byName.get('beta')), epsilon: Number(node.attrs['epsilon']),
  } : {}));
}

/** Inputs by position: table, bucketOfDistance, queryPositions, keyPositions. */
function relativePositionBiasExecutor(node: ExecutorNode): tf.Tensor {
  const [table, buckets, q, k] = node.inputs;
  return relativePositionBias(table as tf.Tensor2D, buckets as tf.Tensor1D, q as tf.Tensor1D, k as tf.Tensor1D);
}

function scoresShapeExecutor(node: ExecutorNode): tf.Tensor {
  const {q, k} = namedInputs(node, graphOpName('AttentionScoresShape'));
  return attentionScoresShape(q, k);
}

type GraphOpName = {[K in OpName]: (typeof OPS)[K]['graphOp'] extends true ? K : never}[OpName];

/** One executor per graph op of the table (the type makes a missing one a compile error). */
const EXECUTORS: Record<GraphOpName, Executor> = {
  ScaledDotProductAttention: attentionExecutor,
  TransformerEncoderLayer: encoderLayerExecutor,
  TransformerEncoderStack: encoderStackExecutor,
  LayerNorm: layerNormExecutor,
  RmsNorm: rmsNormExecutor,
  EmbeddingSum: embeddingSumExecutor,
  AttentionScoresShape: scoresShapeExecutor,
  RelativePositionBias: relativePositionBiasExecutor,
};

let registered = false;

export function registerGraphOps(): void {
  if (registered) return;
  registered = true;
  for (const op of OP_NAMES) {
    const executor = (EXECUTORS as Partial<Record<OpName, Executor>>)[op];
    if (OPS[op].graphOp && executor) registerOp(graphOpName(op), node => executor(node as unknown as ExecutorNode));
  }
}
