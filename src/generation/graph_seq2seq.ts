/**
 * A converted encoder–decoder graph turned into the fused decoder's weights
 * and configuration with cross-attention (src/ops/decoder_args.ts), from the
 * structure transform/seq2seq recognises. Values structure cannot give are
 * read by running small parts of the graph on a probe: the head size, the
 * learned positions' offset and T5's relative position bias (the additive
 * terms of the first layer's self-attention scores, read along the last row of
 * a long probe: bias[h, i − j]; beyond T5's max_distance the buckets saturate,
 * so the last value extends the table). Weights are the model's own tensors
 * (views where a shape differs), never copies — but for T5's head scale, folded
 * into the final norm's gamma (E values).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {DecoderConfig, DecoderLayerWeights, DecoderWeights} from '../ops/decoder_args';
import {ConstantValues} from '../transform/graph/constant_values';
import {GraphDef, InputRef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';
import {graphModelArtifacts} from '../transform/graph_model_transform';
import type {NormSite} from '../transform/decoder/norm_site';
import {recogniseSeq2SeqGraph, RecognisedSeq2Seq} from '../transform/seq2seq/seq2seq_graph';
import {buildFusedEncoder, FusedEncoder} from './graph_encoder';
import {graphWeightReaders} from './graph_weights';

export interface GraphSeq2Seq {
  weights: DecoderWeights;
  config: DecoderConfig;
  /** Decoder positions the model takes (learned rows, the position bias's reach, or the generator's limit). */
  positions: number;
  recognised: RecognisedSeq2Seq;
  /** The node name of the encoder's output, for model.execute. */
  encoderOutput: string;
  /** Tensors made here (views, the position bias, a scaled gamma), disposed with the generator. */
  owned: tf.Tensor[];
  /** The encoder as one fused stack, or why the graph runs it. */
  encoder: FusedEncoder | string;
  /** The longest source the encoder's learned positions take (Infinity: no such table). */
  sourcePositions: number;
}

export type GraphSeq2SeqResult = {ok: true; model: GraphSeq2Seq} | {ok: false; reason: string};

/** The source of a batch: token ids [B, S] with their mask, or features [B, ...] (Whisper). */
export interface SourceBatch {
  input: tf.Tensor;
  mask: tf.Tensor2D | null;
}

/** How long the probe decoder sequence is when reading a relative position bias. */
const BIAS_PROBE = 256;

export function refName(ref: InputRef): string {
  return ref.output === 0 ? ref.node : `${ref.node}:${ref.output}`;
}

/** The graph's feeds for a source batch and decoder ids [B, T]. */
export function seq2seqFeeds(r: RecognisedSeq2Seq, source: SourceBatch, decoderIds: tf.Tensor2D): tf.NamedTensorMap {
  const feeds: tf.NamedTensorMap = {[r.sourceInput]: source.input, [r.decoderTokenInput]: decoderIds};
  if (r.sourceMaskInput) {
    feeds[r.sourceMaskInput] = source.mask ?? tf.ones(source.input.shape.slice(0, 2), 'int32');
  }
  if (r.decoderMaskInput) feeds[r.decoderMaskInput] = tf.onesLike(decoderIds);
  return feeds;
}

/** A probe source of one row: token ids 0 of length 3, or zero features of the input's declared shape. */
export function probeSource(model: GraphModel, r: RecognisedSeq2Seq, length = 3): SourceBatch | string {
  if (r.sourceKind === 'tokens') return {input: tf.zeros([1, length], 'int32'), mask: null};
  const shape = model.inputs.find(i => (i.name ?? '').replace(/:0$/, '') === r.sourceInput)?.shape;
  if (!shape || shape.slice(1).some(d => d == null || d < 1)) {
    return `the features input '${r.sourceInput}' has no fixed shape [B, ...] to probe with`;
  }
  return {input: tf.zeros([1, ...shape.slice(1)] as number[]), mask: null};
}

export function buildGraphSeq2Seq(model: GraphModel, maxPositions: number): GraphSeq2SeqResult {
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
  const recognised = recogniseSeq2SeqGraph(view, consts, inputNames, outputNames);
  if (!recognised.ok) return {ok: false, reason: recognised.reason};
  const owned: tf.Tensor[] = [];
  try {
    const built = buildWeights(model, view, recognised.value, weightMap, maxPositions, owned);
    if (!built.ok) tf.dispose(owned);
    return built;
  } catch (e) {
    tf.dispose(owned);
    return {ok: false, reason: `running parts of the graph failed: ${(e as Error).message.split('\n')[0]}`};
  }
}

/** Runs the graph up to `outputs` on the probe source and decoder ids 0 of `length`. */
function probe(model: GraphModel, r: RecognisedSeq2Seq, length: number, outputs: string[]): tf.Tensor[] {
  const source = probeSource(model, r);
  if (typeof source === 'string') throw new Error(source);
  try {
    return tf.tidy(() => {
      const ids = tf.zeros([1, length], 'int32') as tf.Tensor2D;
      const result = model.execute(seq2seqFeeds(r, source, ids), outputs);
      // Clones: an output may be one of the model's own weights (a constant term), which the caller disposes.
      return (Array.isArray(result) ? result : [result]).map(t => tf.clone(t));
    });
  } finally {
    tf.dispose([source.input]);
  }
}

/**
 * The sum of the additive terms of self-attention scores as [H, distance] along the last row of a probe of
 * `length` (null when they add nothing there — masks only), checked to depend only on i − j on the row before.
 */
function positionBiasOf(values: tf.Tensor[], heads: number, length: number): Float32Array | null | string {
  if (values.length === 0) return null;
  {
    const sum = tf.tidy(() => {
      let total: tf.Tensor = tf.zeros([1, 1, length, length]);
      for (const v of values) {
        if (v.rank > 4) throw new Error(`a term added to the scores has rank ${v.rank}`);
        total = tf.add(total, v.rank === 4 ? v : tf.reshape(v, [...new Array(4 - v.rank).fill(1), ...v.shape]));
      }
      return total;
    });
    const [b, h] = sum.shape as number[];
    if (b !== 1 || (h !== heads && h !== 1) || sum.shape[2] !== length || sum.shape[3] !== length) {
      sum.dispose();
      return `the terms added to the self-attention scores have shape [${sum.shape.join(', ')}], not [1, H, T, T]`;
    }
    const data = sum.dataSync() as Float32Array;
    sum.dispose();
    const at = (head: number, i: number, j: number) => data[((h === 1 ? 0 : head) * length + i) * length + j];
    const bias = new Float32Array(heads * length);
    let any = false;
    for (let head = 0; head < heads; head++) {
      for (let d = 0; d < length; d++) {
        const value = at(head, length - 1, length - 1 - d);
        bias[head * length + d] = value;
        if (value !== 0) any = true;
        if (d < length - 1 && at(head, length - 2, length - 2 - d) !== value) {
          return 'the terms added to the self-attention scores depend on more than the distance between positions';
        }
      }
    }
    // The same value at every distance (a constant added to all scores of a head) leaves the softmax unchanged.
    const varies = Array.from({length: heads}, (_, head) => bias.subarray(head * length, (head + 1) * length))
        .some(row => row.some(v => v !== row[0]));
    return any && varies ? bias : null;
  }
}

/** Each layer's self-attention position bias (positionBiasOf) from one probe of the graph of `length`. */
function layerPositionBiases(model: GraphModel, r: RecognisedSeq2Seq, view: GraphView, heads: number, length: number):
    Array<Float32Array | null> | string {
  const names = r.layers.map(l => l.self.additiveTerms.map(t => refName(view.resolve(t).ref)));
  const flat = [...new Set(names.flat())];
  if (flat.length === 0) return r.layers.map(() => null);
  const values = probe(model, r, length, flat);
  try {
    const byName = new Map(flat.map((n, i) => [n, values[i]]));
    const out: Array<Float32Array | null> = [];
    for (const layer of names) {
      const bias = positionBiasOf(layer.map(n => byName.get(n) as tf.Tensor), heads, length);
      if (typeof bias === 'string') return bias;
      out.push(bias);
    }
    return out;
  } finally {
    tf.dispose(values);
  }
}

function buildWeights(model: GraphModel, view: GraphView, r: RecognisedSeq2Seq, weightMap: Record<string, tf.Tensor[]>,
    maxPositions: number, owned: tf.Tensor[]): GraphSeq2SeqResult {
  const fail = (reason: string): GraphSeq2SeqResult => ({ok: false, reason});
  const {constant, matrix, vector} = graphWeightReaders(view, weightMap, owned);
  const columns = (ref: InputRef, transposed: boolean): number => {
    const dims = view.resolve(ref).node?.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) ?? [];
    if (dims.length === 0) return 0;
    return transposed ? dims[0] : dims.slice(1).reduce((a, b) => a * b, 1);
  };
  const word = constant(r.wordEmbedding);
  const [vocab, embed] = word.shape;
  const first = r.layers[0];
  if (r.layers.some(l => l.self.q.rotary || l.self.k.past || l.cross.k.past)) return fail('rotary or past inputs in an encoder–decoder');
  if (r.layers.some(l => [l.self.q, l.self.k, l.self.v, l.cross.q, l.cross.k, l.cross.v].some(t => t.dense.weightTransposed) ||
      l.self.outProj.weightTransposed || l.cross.outProj.weightTransposed || l.mlp.up.weightTransposed ||
      l.mlp.down.weightTransposed || !!l.mlp.gate?.weightTransposed)) {
    return fail('a layer weight is stored transposed ([out, in]); the fused step reads [in, out] weights in place');
  }

  const [qProbe] = probe(model, r, 3, [refName(view.resolve(first.self.scoresQuery).ref)]);
  const qShape = qProbe.shape.slice();
  qProbe.dispose();
  const headDim = qShape[qShape.length - 1];
  const heads = qShape.length === 4 ? qShape[1] : qShape[0];
  const qWidth = first.self.packed ? 0 : columns(first.self.q.dense.weight, false);
  const packedWidth = first.self.packed ? columns(first.self.q.dense.weight, false) : 0;
  const kvHeads = first.self.packed ? (packedWidth - heads * headDim) / (2 * headDim)
    : columns(first.self.k.dense.weight, false) / headDim;
  if (!Number.isInteger(heads) || !Number.isInteger(kvHeads) || heads < 1 || kvHeads < 1 || heads % kvHeads !== 0 ||
      (!first.self.packed && qWidth !== heads * headDim)) {
    return fail(`cannot make heads of ${headDim} from the projections and q of shape [${qShape.join(', ')}]`);
  }
  const crossKvWidth = columns(first.cross.k.dense.weight, false);
  if (crossKvWidth !== kvHeads * headDim || columns(first.cross.q.dense.weight, false) !== heads * headDim) {
    return fail('the cross-attention heads differ from the self-attention\'s');
  }

  let positions = maxPositions;
  let positionEmbeddings: tf.Tensor2D | undefined;
  let positionOffset = 0;
  if (r.positionEmbedding) {
    const table = constant(r.positionEmbedding.table) as tf.Tensor2D;
    const [indices] = probe(model, r, 3, [refName(view.resolve(view.dataInputs(r.positionEmbedding.lookup)[1]).ref)]);
    const rows = Array.from(indices.dataSync(), Number);
    indices.dispose();
    positionOffset = rows[0];
    if (rows.length !== 3 || rows[1] !== positionOffset + 1 || rows[2] !== positionOffset + 2 || positionOffset < 0) {
      return fail(`the decoder's position lookup reads rows ${rows.join(', ')} for positions 0, 1, 2 (not consecutive rows)`);
    }
    positionEmbeddings = table;
    positions = Math.min(positions, table.shape[0] - positionOffset);
  }

  // A learned relative position bias (T5): one for every layer (computed in the first and shared).
  let positionBias: tf.Tensor2D | undefined;
  // A short probe first: most families add only masks (no bias to read at the long length).
  const short = layerPositionBiases(model, r, view, heads, Math.min(8, positions));
  if (typeof short === 'string') return fail(short);
  const probeLength = Math.min(BIAS_PROBE, positions);
  const biases = short.every(b => b === null) ? short : layerPositionBiases(model, r, view, heads, probeLength);
  if (typeof biases === 'string') return fail(biases);
  const bias = biases[0];
  for (const other of biases.slice(1)) {
    if ((other === null) !== (bias === null) || (bias && other && bias.some((x, i) => x !== other[i]))) {
      return fail('the decoder layers add different terms to their self-attention scores');
    }
  }
  if (bias) {
    // Saturated (constant over the probe's second half): the same value at every longer distance.
    let saturated = probeLength >= 8;
    for (let h = 0; h < heads && saturated; h++) {
      const last = bias[h * probeLength + probeLength - 1];
      for (let d = Math.floor(probeLength / 2); d < probeLength; d++) if (bias[h * probeLength + d] !== last) saturated = false;
    }
    const rows = saturated ? positions : probeLength;
    if (!saturated) positions = probeLength;
    const table = new Float32Array(heads * rows);
    for (let h = 0; h < heads; h++) {
      for (let d = 0; d < rows; d++) table[h * rows + d] = bias[h * probeLength + Math.min(d, probeLength - 1)];
    }
    positionBias = tf.tensor2d(table, [heads, rows]);
    owned.push(positionBias);
  }

  const norms = r.layers.flatMap(l => [l.norm1, l.normCross, l.norm2]);
  if (r.finalNorm) norms.push(r.finalNorm);
  if (r.embeddingNorm) norms.push(r.embeddingNorm);
  const normKind = norms[0].kind;
  if (norms.some(n => n.kind !== normKind)) return fail('the decoder mixes LayerNorm and RMSNorm');
  const eps = first.norm1.eps;
  if (r.layers.some(l => l.norm1.eps !== eps || l.normCross.eps !== eps || l.norm2.eps !== eps)) {
    return fail('the decoder layers\' norms use different epsilons');
  }
  if (new Set(r.layers.map(l => l.mlp.activation)).size !== 1) return fail('the layers use different activations');
  const scales = new Set(r.layers.flatMap(l => [Math.fround(l.self.scale), Math.fround(l.cross.scale)]));
  if (scales.size !== 1) return fail('the self- and cross-attention scale their scores differently');
  if (new Set(r.layers.map(l => `${l.normFirst}/${l.self.packed}/${!!l.mlp.gate}`)).size !== 1) {
    return fail('the decoder layers are not all of one form');
  }

  // A norm without a gamma but with a scalar folded in (a gamma of ones times a scale) gets a filled gamma.
  const normGamma = (norm: NormSite): tf.Tensor1D | undefined => {
    if (norm.gamma) return vector(norm.gamma, embed);
    return norm.scale !== undefined ? owning(owned, tf.fill([embed], norm.scale) as tf.Tensor1D) : undefined;
  };
  const layers: DecoderLayerWeights[] = r.layers.map(l => {
    const ffn = columns(l.mlp.up.weight, false);
    const w: DecoderLayerWeights = {
      outWeight: matrix(l.self.outProj.weight, heads * headDim, embed),
      outBias: vector(l.self.outProj.bias, embed),
      upWeight: matrix(l.mlp.up.weight, embed, ffn),
      upBias: vector(l.mlp.up.bias, ffn),
      downWeight: matrix(l.mlp.down.weight, ffn, embed),
      downBias: vector(l.mlp.down.bias, embed),
      crossQWeight: matrix(l.cross.q.dense.weight, embed, heads * headDim),
      crossQBias: vector(l.cross.q.dense.bias, heads * headDim),
      crossKWeight: matrix(l.cross.k.dense.weight, embed, kvHeads * headDim),
      crossKBias: vector(l.cross.k.dense.bias, kvHeads * headDim),
      crossVWeight: matrix(l.cross.v.dense.weight, embed, kvHeads * headDim),
      crossVBias: vector(l.cross.v.dense.bias, kvHeads * headDim),
      crossOutWeight: matrix(l.cross.outProj.weight, heads * headDim, embed),
      crossOutBias: vector(l.cross.outProj.bias, embed),
      norm1Gamma: normGamma(l.norm1),
      norm1Beta: vector(l.norm1.beta, embed),
      crossNormGamma: normGamma(l.normCross),
      crossNormBeta: vector(l.normCross.beta, embed),
      norm2Gamma: normGamma(l.norm2),
      norm2Beta: vector(l.norm2.beta, embed),
    };
    if (l.mlp.gate) {
      w.gateWeight = matrix(l.mlp.gate.weight, embed, ffn);
      w.gateBias = vector(l.mlp.gate.bias, ffn);
    }
    if (l.self.packed) {
      const total = (heads + 2 * kvHeads) * headDim;
      w.qkvWeight = matrix(l.self.q.dense.weight, embed, total);
      w.qkvBias = vector(l.self.q.dense.bias, total);
    } else {
      w.qWeight = matrix(l.self.q.dense.weight, embed, heads * headDim);
      w.kWeight = matrix(l.self.k.dense.weight, embed, kvHeads * headDim);
      w.vWeight = matrix(l.self.v.dense.weight, embed, kvHeads * headDim);
      w.qBias = vector(l.self.q.dense.bias, heads * headDim);
      w.kBias = vector(l.self.k.dense.bias, kvHeads * headDim);
      w.vBias = vector(l.self.v.dense.bias, kvHeads * headDim);
    }
    for (const k of Object.keys(w) as Array<keyof DecoderLayerWeights>) if (w[k] === undefined) delete w[k];
    return w;
  });

  const headWeight = r.head.transposed ? matrix(r.head.weight, vocab, embed) : matrix(r.head.weight, embed, vocab);
  const weights: DecoderWeights = {wordEmbeddings: word as tf.Tensor2D, lmHead: headWeight, layers};
  if (positionEmbeddings) weights.positionEmbeddings = positionEmbeddings;
  if (positionBias) weights.positionBias = positionBias;
  const lmHeadBias = vector(r.head.bias, vocab);
  if (lmHeadBias) weights.lmHeadBias = lmHeadBias;
  let gamma = r.finalNorm ? normGamma(r.finalNorm) : undefined;
  const beta = r.finalNorm ? vector(r.finalNorm.beta, embed) : undefined;
  if (r.headScale !== 1) {
    // T5's tied head reads norm(x) · d_model^-0.5: the scale goes into the final norm's gamma (and beta).
    if (!r.finalNorm) return fail('the hidden states are scaled before the head without a final norm');
    gamma = owning(owned, tf.mul(gamma ?? tf.ones([embed]), r.headScale) as tf.Tensor1D);
    if (beta) weights.finalNormBeta = owning(owned, tf.mul(beta, r.headScale) as tf.Tensor1D);
  } else if (beta) {
    weights.finalNormBeta = beta;
  }
  if (r.finalNorm) weights.finalNormGamma = gamma ?? owning(owned, tf.ones([embed]) as tf.Tensor1D);
  if (r.embeddingNorm) {
    const g = normGamma(r.embeddingNorm), b = vector(r.embeddingNorm.beta, embed);
    weights.embeddingNormGamma = g ?? owning(owned, tf.ones([embed]) as tf.Tensor1D);
    if (b) weights.embeddingNormBeta = b;
  }
  const config: DecoderConfig = {
    numHeads: heads, numKvHeads: kvHeads, normKind, normFirst: first.normFirst, activation: first.mlp.activation,
    scale: first.self.scale, embeddingScale: r.embeddingScale, positionOffset, normEps: eps,
    finalNormEps: r.finalNorm?.eps ?? eps, lmHeadTransposed: r.head.transposed,
    ...(r.embeddingNorm ? {embeddingNormEps: r.embeddingNorm.eps} : {}),
    ...(r.embeddingNormBeforePositions ? {embeddingNormBeforePositions: true} : {}),
  };
  let encoder: FusedEncoder | string = typeof r.encoder === 'string' ? r.encoder : 'not built';
  if (typeof r.encoder !== 'string') {
    const [encoderQuery] = probe(model, r, 1, [refName(view.resolve(r.encoder.layers[0].scoresQuery).ref)]);
    const shape = encoderQuery.shape;
    encoderQuery.dispose();
    encoder = buildFusedEncoder(view, r.encoder, weightMap, shape.length === 4 ? shape[1] : shape[0], owned);
  }
  return {ok: true, model: {weights, config, positions, recognised: r, encoderOutput: refName(view.resolve(r.encoderOutput).ref),
    owned, encoder, sourcePositions: sourcePositionLimit(model, view, r)}};
}

/**
 * The encoder's learned position table's limit: a lookup feeding the encoder on a constant table other than
 * the word embeddings, with indices that do not carry the source's tokens (read for a 3-token probe: rows
 * offset, offset + 1, offset + 2). Infinity without one (T5's relative positions; Whisper's fixed frames).
 */
function sourcePositionLimit(model: GraphModel, view: GraphView, r: RecognisedSeq2Seq): number {
  if (r.sourceKind !== 'tokens') return Infinity;
  const start = typeof r.encoder === 'string' ? r.encoderOutput : r.encoder.input;
  const word = refName(view.resolve(r.wordEmbedding).ref);
  const stack = [start];
  const seen = new Set<string>();
  let limit = Infinity;
  while (stack.length > 0 && seen.size < 400) {
    const node = view.resolve(stack.pop() as InputRef).node;
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    if (node.op === 'Softmax') continue;  // another layer: positions are looked up before the first
    if ((node.op === 'GatherV2' || node.op === 'ResourceGather') && view.dataInputs(node).length >= 2) {
      const [tableRef, indicesRef] = view.dataInputs(node);
      const table = view.resolve(tableRef).node;
      const dims = table?.op === 'Const' ? table.attr?.['value']?.tensor?.tensorShape?.dim?.map(d => Number(d.size)) : undefined;
      if (table && dims?.length === 2 && table.name !== word.replace(/:\d+$/, '')) {
        try {
          const [indices] = probe(model, r, 1, [refName(view.resolve(indicesRef).ref)]);
          const rows = Array.from(indices.dataSync(), Number);
          indices.dispose();
          if (rows.length === 3 && rows[1] === rows[0] + 1 && rows[2] === rows[0] + 2) limit = Math.min(limit, dims[0] - rows[0]);
        } catch {
          // Not a position lookup the probe can read: no limit from it.
        }
      }
    }
    for (const input of view.dataInputs(node)) stack.push(input);
  }
  return limit;
}

function owning<T extends tf.Tensor>(owned: tf.Tensor[], t: T): T {
  owned.push(t);
  return t;
}
