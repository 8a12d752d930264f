/**
 * The longest sequence a model takes: the rows of its learned position
 * table, less the offset its lookup starts at (BART, RoBERTa and OPT read
 * position p at row p + 2). `bench` defaults to it when it is under 128 and
 * refuses a longer --seq, instead of failing inside a Gather.
 *
 * Graph models: a table lookup whose indices, for one unpadded sequence of
 * S tokens, are offset, offset + 1, …, offset + S − 1 (for S = 2 and 3) is a
 * position lookup, however the graph computes them (a Range, a cumulative sum
 * of the mask, RoBERTa's padding-aware count). Token and token-type lookups
 * read constant ids in this probe; T5's relative-position buckets are an
 * [S, S] matrix. Layers models: an Embedding layer reading an input named
 * like position ids.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {formatInputRef, GraphDef} from '../transform/graph/graph_def';
import {GraphView} from '../transform/graph/graph_view';

export interface PositionLimit {
  positions: number;
  /** Where the number comes from, for messages: "the position table its lookup '…/embed_positions/…' reads has 66 rows, from row 2 on". */
  source: string;
}

const GATHER_OPS = new Set(['GatherV2', 'Gather', 'ResourceGather']);
const PROBE_LENGTHS = [2, 3];

/**
 * Inputs for one unpadded sequence of `seq` tokens: every token id 2 (not 0 or
 * 1, which are padding ids in BERT- and RoBERTa-like vocabularies and would
 * leave RoBERTa's positions at the padding row), the mask all ones, token types
 * and floats zero; null if a shape is unknown.
 */
function probeInputs(model: GraphModel, seq: number): tf.NamedTensorMap | null {
  const inputs: tf.NamedTensorMap = {};
  for (const spec of model.inputs) {
    const shape = (spec.shape ?? [-1, -1]).map((d, i) => (d >= 0 ? d : i === 0 ? 1 : i === 1 ? seq : -1));
    if (shape.some(d => d < 0)) {
      tf.dispose(Object.values(inputs));
      return null;
    }
    const name = spec.name.replace(/:0$/, '');
    const isInt = spec.dtype === 'int32';
    if (/mask/i.test(name)) inputs[name] = tf.ones(shape, isInt ? 'int32' : 'float32');
    else if (isInt && !/type/i.test(name)) inputs[name] = tf.fill(shape, 2, 'int32');
    else inputs[name] = tf.zeros(shape, isInt ? 'int32' : 'float32');
  }
  return inputs;
}

/** The first row a lookup's indices read when they are offset, offset + 1, … for every sequence; null otherwise. */
function consecutiveFrom(indices: tf.Tensor, seq: number): number | null {
  if (indices.size === 0 || indices.shape[indices.rank - 1] !== seq || indices.rank > 2) return null;
  const values = Array.from(indices.dataSync(), Number);
  const offset = values[0];
  return values.every((v, i) => v === offset + (i % seq)) ? offset : null;
}

export function graphPositionLimit(model: GraphModel): PositionLimit | null {
  const topology = (model as unknown as {artifacts?: tf.io.ModelArtifacts}).artifacts?.modelTopology as GraphDef | undefined;
  if (!topology || !Array.isArray(topology.node)) return null;
  const view = new GraphView(topology);
  const weights = model.weights;
  const lookups: Array<{indices: string; lookup: string; rows: number}> = [];
  for (const node of topology.node) {
    if (!GATHER_OPS.has(node.op)) continue;
    const [tableRef, indicesRef] = view.dataInputs(node);
    const table = tableRef && view.resolve(tableRef).node;
    const tensor = table?.op === 'Const' ? weights[table.name]?.[0] : undefined;
    if (!tensor || tensor.rank !== 2 || !indicesRef) continue;
    lookups.push({indices: formatInputRef(view.resolve(indicesRef).ref), lookup: node.name, rows: tensor.shape[0]});
  }
  if (lookups.length === 0) return null;
  // Each probe length: the first row every lookup reads (null: not a position lookup).
  const offsets = lookups.map((): number | null | undefined => undefined);
  for (const seq of PROBE_LENGTHS) {
    const inputs = probeInputs(model, seq);
    if (!inputs) return null;
    try {
      const outs = model.execute(inputs, lookups.map(l => l.indices));
      const list = Array.isArray(outs) ? outs : [outs];
      list.forEach((t, i) => {
        const offset = consecutiveFrom(t, seq);
        offsets[i] = offsets[i] === undefined || offsets[i] === offset ? offset : null;
      });
      tf.dispose(list);
    } catch {
      // A graph that cannot run on this probe (control flow, fixed lengths): no limit known.
      return null;
    } finally {
      tf.dispose(Object.values(inputs));
    }
  }
  let best: PositionLimit | null = null;
  for (const [i, l] of lookups.entries()) {
    const offset = offsets[i];
    if (offset === null || offset === undefined || offset < 0) continue;
    const positions = l.rows - offset;
    if (best && best.positions <= positions) continue;
    best = {positions, source: `the position table its lookup '${l.lookup}' reads has ${l.rows} rows` +
        (offset > 0 ? `, from row ${offset} on` : '')};
  }
  return best;
}

interface EmbeddingConfig {
  inputDim?: number;
}

export function layersPositionLimit(model: LayersModel): PositionLimit | null {
  let best: PositionLimit | null = null;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Embedding') continue;
    const inputDim = (layer.getConfig() as EmbeddingConfig).inputDim;
    const reads = layer.inboundNodes.flatMap(n => n.inboundLayers.map(l => l.name));
    if (typeof inputDim !== 'number' || !reads.some(name => /position/i.test(name))) continue;
    if (best && best.positions <= inputDim) continue;
    best = {positions: inputDim, source: `its position embedding '${layer.name}' has ${inputDim} rows`};
  }
  return best;
}
