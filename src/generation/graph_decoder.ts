/**
 * A converted decoder graph turned into the fused decoder's weights and
 * configuration (src/ops/decoder_args.ts): the structure comes from
 * transform/decoder (recogniseDecoderGraph); the few values structure cannot
 * give are read by running small parts of the graph itself on a probe — the
 * head size (the shape q reaches the attention with), the learned positions'
 * offset (the rows the position lookup reads for positions 0, 1, 2), and the
 * rotary cos/sin tables (the model's own, for every position the generator
 * may reach). Weights are the model's own tensors; a weight whose shape
 * differs from the op's (a [1, V, E] head) gets a reshaped view of the same
 * data, never a copy.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {DecoderConfig, DecoderLayerWeights, DecoderWeights} from '../ops/decoder_args';
import {ConstantValues} from '../transform/graph/constant_values';
import {graphWeightReaders} from './graph_weights';
import {GraphDef, InputRef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';
import {graphModelArtifacts} from '../transform/graph_model_transform';
import {recogniseDecoderGraph, RecognisedDecoder} from '../transform/decoder/decoder_graph';
import type {DecoderLayerMatch} from '../transform/decoder/decoder_layer';

export interface GraphDecoder {
  weights: DecoderWeights;
  config: DecoderConfig;
  /** Positions the model takes (learned rows, a rotary table's rows, or the generator's limit). */
  positions: number;
  recognised: RecognisedDecoder;
  /** Tensors made here (views and rotary tables), disposed with the generator. */
  owned: tf.Tensor[];
}

export type GraphDecoderResult = {ok: true; decoder: GraphDecoder} | {ok: false; reason: string};

/** The graph's feeds for token ids [B, S] (mask of ones, empty pasts shaped [2, B, Hkv, 0, D]). */
export function graphFeeds(r: RecognisedDecoder, ids: tf.Tensor2D, mask: tf.Tensor2D | null,
    past: {kvHeads: number; headDim: number} | null): tf.NamedTensorMap {
  const feeds: tf.NamedTensorMap = {[r.tokenInput]: ids};
  const [batch, seq] = ids.shape;
  if (r.maskInput) feeds[r.maskInput] = mask ?? tf.ones([batch, seq], 'int32');
  for (const name of r.pastInputs) feeds[name] = tf.zeros([2, batch, past?.kvHeads ?? 1, 0, past?.headDim ?? 1]);
  return feeds;
}

function refName(ref: InputRef): string {
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

/** Runs the graph up to `outputs` on token ids 0 at positions [0, length). */
function probe(model: GraphModel, r: RecognisedDecoder, length: number, outputs: string[],
    past: {kvHeads: number; headDim: number} | null): tf.Tensor[] {
  return tf.tidy(() => {
    const ids = tf.zeros([1, length], 'int32') as tf.Tensor2D;
    const result = model.execute(graphFeeds(r, ids, null, past), outputs);
    return Array.isArray(result) ? result : [result];
  });
}

/** [rows, rotaryDim / 2] cos and sin from the graph's own [.., rows, .., rotaryDim] tensors. */
function rotaryTables(cos: tf.Tensor, sin: tf.Tensor, rows: number): {cos: tf.Tensor2D; sin: tf.Tensor2D; interleaved: boolean} | string {
  const width = cos.shape[cos.rank - 1];
  if (cos.size !== rows * width || sin.size !== rows * width || width % 2 !== 0) {
    return `the rotary cos/sin have shape [${cos.shape.join(', ')}], not one row of ${width} per position`;
  }
  const c = cos.dataSync(), s = sin.dataSync();
  const half = width / 2;
  // Duplicated pairs: (2i, 2i + 1) equal is the interleaved form, (i, i + half) the rotate-half form.
  let interleaved = true, rotateHalf = true;
  for (let p = 0; p < rows && (interleaved || rotateHalf); p++) {
    for (let i = 0; i < half; i++) {
      const row = p * width;
      if (c[row + 2 * i] !== c[row + 2 * i + 1] || s[row + 2 * i] !== s[row + 2 * i + 1]) interleaved = false;
      if (c[row + i] !== c[row + i + half] || s[row + i] !== s[row + i + half]) rotateHalf = false;
    }
  }
  if (!interleaved && !rotateHalf) return 'the rotary cos/sin rows repeat neither pairwise nor by halves';
  const pick = (values: ArrayLike<number>) => {
    const out = new Float32Array(rows * half);
    for (let p = 0; p < rows; p++) {
      for (let i = 0; i < half; i++) out[p * half + i] = values[p * width + (interleaved && !rotateHalf ? 2 * i : i)];
    }
    return tf.tensor2d(out, [rows, half]);
  };
  return {cos: pick(c), sin: pick(s), interleaved: interleaved && !rotateHalf};
}

/** Rows of the Const tables a tensor's subgraph gathers from (a rotary table's limit), or Infinity. */
function gatheredTableRows(view: GraphView, ref: InputRef): number {
  const stack = [ref];
  const seen = new Set<string>();
  let rows = Infinity;
  while (stack.length > 0 && seen.size < 80) {
    const node = view.resolve(stack.pop() as InputRef).node;
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (node.op === 'GatherV2' || node.op === 'Gather') {
      const table = view.resolve(view.dataInputs(node)[0]).node;
      const dims = table?.op === 'Const' ? table.attr?.['value']?.tensor?.tensorShape?.dim : undefined;
      if (dims && dims.length >= 1) rows = Math.min(rows, Number(dims[0].size));
    }
    if (node.op === 'Shape' || node.op === 'Const') continue;
    for (const input of view.dataInputs(node)) stack.push(input);
  }
  return rows;
}

export function buildGraphDecoder(model: GraphModel, maxPositions: number): GraphDecoderResult {
  const artifacts = graphModelArtifacts(model);
  const graph = artifacts?.modelTopology as GraphDef | undefined;
  if (!graph || !Array.isArray(graph.node)) return {ok: false, reason: 'the model keeps no graph topology in memory'};
  const weightMap = model.weights;
  const view = new GraphView(graph);
  const consts = new ConstantValues(view, name => weightMap[name]?.[0]);
  const inputNames = model.inputs.map(i => (i.name ?? '').replace(/:0$/, ''));
  const signature = artifacts?.signature as {outputs?: Record<string, {name?: string}>} | undefined;
  const signatureOutputs = signature?.outputs ?? {};
  const logitsKey = Object.keys(signatureOutputs).find(k => /logits/i.test(k));
  const outputNames = [
    ...(logitsKey ? [signatureOutputs[logitsKey].name ?? ''] : []),
    ...model.outputs.map(o => o.name ?? ''),
  ].filter(Boolean).map(n => n.replace(/:0$/, ''));
  const recognised = recogniseDecoderGraph(view, consts, inputNames, outputNames);
  if (!recognised.ok) return {ok: false, reason: recognised.reason};
  const r = recognised.value;
  if (r.otherInputs.length > 0) {
    return {ok: false, reason: `the graph takes inputs the generator does not know how to feed (${r.otherInputs.join(', ')})`};
  }
  const owned: tf.Tensor[] = [];
  try {
    return buildWeights(model, view, consts, r, weightMap, maxPositions, owned);
  } catch (e) {
    tf.dispose(owned);
    return {ok: false, reason: `running parts of the graph failed: ${(e as Error).message.split('\n')[0]}`};
  }
}

function buildWeights(model: GraphModel, view: GraphView, consts: ConstantValues, r: RecognisedDecoder,
    weightMap: Record<string, tf.Tensor[]>, maxPositions: number, owned: tf.Tensor[]): GraphDecoderResult {
  const fail = (reason: string): GraphDecoderResult => {
    tf.dispose(owned);
    return {ok: false, reason};
  };
  const {constant, matrix, vector} = graphWeightReaders(view, weightMap, owned);
  const word = constant(r.wordEmbedding);
  const [vocab, embed] = word.shape;
  const first = r.layers[0];
  const qWidth = widthOf(first.q.dense, 'single', consts, view);

  // Heads and head size: the shape q reaches the scores product with, [1, H, S, D] or [H, S, D] (heads folded into
  // the batch) for one probe sequence; kv heads from the k projection's width.
  const [qProbe] = probe(model, r, 3, [refName(view.resolve(first.scoresQuery).ref)], null);
  const qShape = qProbe.shape.slice();
  qProbe.dispose();
  const headDim = qShape[qShape.length - 1];
  const heads = qShape.length === 4 ? qShape[1] : qShape[0];
  const kvHeads = first.packed ? (qWidth - heads * headDim) / (2 * headDim) : widthOf(first.k.dense, 'single', consts, view) / headDim;
  if (!Number.isInteger(heads) || !Number.isInteger(kvHeads) || heads < 1 || kvHeads < 1 || heads % kvHeads !== 0) {
    return fail(`cannot make heads of ${headDim} from ${qWidth} projection columns and q of shape [${qShape.join(', ')}]`);
  }

  // Positions: learned rows at position + offset, or rotary tables.
  let positions = maxPositions;
  let positionEmbeddings: tf.Tensor2D | undefined;
  let positionOffset = 0;
  if (r.positionEmbedding) {
    const table = constant(r.positionEmbedding.table) as tf.Tensor2D;
    const [indices] = probe(model, r, 3, [refName(view.resolve(view.dataInputs(r.positionEmbedding.lookup)[1]).ref)], null);
    const rows = Array.from(indices.dataSync(), Number);
    indices.dispose();
    positionOffset = rows[0];
    if (rows.length !== 3 || rows[1] !== positionOffset + 1 || rows[2] !== positionOffset + 2 || positionOffset < 0) {
      return fail(`the position lookup reads rows ${rows.join(', ')} for positions 0, 1, 2 (not consecutive rows)`);
    }
    positionEmbeddings = table;
    positions = Math.min(positions, table.shape[0] - positionOffset);
  }
  let rotary: {cos: tf.Tensor2D; sin: tf.Tensor2D; interleaved: boolean} | null = null;
  if (first.q.rotary) {
    positions = Math.min(positions, gatheredTableRows(view, first.q.rotary.cos));
    const [cos, sin] = probe(model, r, positions,
        [refName(view.resolve(first.q.rotary.cos).ref), refName(view.resolve(first.q.rotary.sin).ref)], null);
    const tables = rotaryTables(cos, sin, positions);
    tf.dispose([cos, sin]);
    if (typeof tables === 'string') return fail(tables);
    owned.push(tables.cos, tables.sin);
    rotary = tables;
  }

  const layers: DecoderLayerWeights[] = r.layers.map(l => {
    const ffn = widthOf(l.mlp.up, 'single', consts, view);
    const w: DecoderLayerWeights = {
      outWeight: matrix(l.outProj.weight, heads * headDim, embed),
      outBias: vector(l.outProj.bias, embed),
      upWeight: matrix(l.mlp.up.weight, embed, ffn),
      upBias: vector(l.mlp.up.bias, ffn),
      downWeight: matrix(l.mlp.down.weight, ffn, embed),
      downBias: vector(l.mlp.down.bias, embed),
    };
    if (l.mlp.gate) {
      w.gateWeight = matrix(l.mlp.gate.weight, embed, ffn);
      w.gateBias = vector(l.mlp.gate.bias, ffn);
    }
    if (l.packed) {
      const total = (heads + 2 * kvHeads) * headDim;
      w.qkvWeight = matrix(l.q.dense.weight, embed, total);
      w.qkvBias = vector(l.q.dense.bias, total);
    } else {
      w.qWeight = matrix(l.q.dense.weight, embed, heads * headDim);
      w.kWeight = matrix(l.k.dense.weight, embed, kvHeads * headDim);
      w.vWeight = matrix(l.v.dense.weight, embed, kvHeads * headDim);
      w.qBias = vector(l.q.dense.bias, heads * headDim);
      w.kBias = vector(l.k.dense.bias, kvHeads * headDim);
      w.vBias = vector(l.v.dense.bias, kvHeads * headDim);
    }
    if (l.norm1) {
      w.norm1Gamma = vector(l.norm1.gamma, embed);
      w.norm1Beta = vector(l.norm1.beta, embed);
    }
    if (l.norm2) {
      w.norm2Gamma = vector(l.norm2.gamma, embed);
      w.norm2Beta = vector(l.norm2.beta, embed);
    }
    return w;
  });
  const norms = r.layers.flatMap(l => [l.norm1, l.norm2]).filter((n): n is NonNullable<typeof n> => n !== null);
  const normKind = norms[0]?.kind ?? r.finalNorm?.kind ?? 'layer';
  if (norms.some(n => n.kind !== normKind) || (r.finalNorm && r.finalNorm.kind !== normKind)) {
    return fail('the layers mix LayerNorm and RMSNorm');
  }
  const eps = norms[0]?.eps ?? r.finalNorm?.eps ?? 1e-5;
  if (norms.some(n => n.eps !== eps)) return fail('the norms use different epsilons');
  const activations = new Set(r.layers.map(l => l.mlp.activation));
  if (activations.size !== 1) return fail('the layers use different activations');
  const scales = new Set(r.layers.map(l => Math.fround(l.scale)));
  if (scales.size !== 1) return fail('the layers scale their scores differently');
  const forms = new Set(r.layers.map(l => `${l.normFirst}/${l.parallel}/${l.sharedNorm}/${l.packed}/${!!l.mlp.gate}`));
  if (forms.size !== 1) return fail('the layers are not all of one form');

  const headWeight = r.head.transposed ? matrix(r.head.weight, vocab, embed) : matrix(r.head.weight, embed, vocab);
  const weights: DecoderWeights = {
    wordEmbeddings: word as tf.Tensor2D,
    lmHead: headWeight,
    layers,
    ...(positionEmbeddings ? {positionEmbeddings} : {}),
    ...(rotary ? {rotaryCos: rotary.cos, rotarySin: rotary.sin} : {}),
  };
  const lmHeadBias = vector(r.head.bias, vocab);
  if (lmHeadBias) weights.lmHeadBias = lmHeadBias;
  if (r.finalNorm) {
    const gamma = vector(r.finalNorm.gamma, embed), beta = vector(r.finalNorm.beta, embed);
    if (gamma) weights.finalNormGamma = gamma;
    if (beta) weights.finalNormBeta = beta;
    if (!gamma && !beta) weights.finalNormGamma = owning(owned, tf.ones([embed]) as tf.Tensor1D);
  }
  const config: DecoderConfig = {
    numHeads: heads, numKvHeads: kvHeads, normKind, normFirst: first.normFirst, parallel: first.parallel,
    parallelSharedNorm: first.parallel && first.sharedNorm, activation: first.mlp.activation, scale: first.scale,
    embeddingScale: r.embeddingScale, positionOffset, rotaryInterleaved: rotary?.interleaved ?? false, normEps: eps,
    finalNormEps: r.finalNorm?.eps ?? eps, lmHeadTransposed: r.head.transposed,
  };
  return {ok: true, decoder: {weights, config, positions, recognised: r, owned}};
}

function owning<T extends tf.Tensor>(owned: tf.Tensor[], t: T): T {
  owned.push(t);
  return t;
}

/** Output columns of a dense projection (its weight's last dimension, or the first when transposed). */
function widthOf(dense: {weight: InputRef; weightTransposed: boolean}, _form: 'packed' | 'single', _consts: ConstantValues,
    view: GraphView): number {
  const dims = view.resolve(dense.weight).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
  if (dims.length === 0) return 0;
  return dense.weightTransposed ? dims[0] : dims.slice(1).reduce((a, b) => a * b, 1);
}
