/**
 * Steps for a tfjs-layers model (see step_models.ts for the StepModel contract):
 *
 * - LayersRecomputeSteps: the model's own predict() on the whole sequence at
 *   every step, the logits of each sequence's last token. Sequences of the
 *   same length go in one batch, others in batches of their own, so no row is
 *   ever padded: the model computes exactly what it computes for that sequence
 *   alone (with position ids 0..n-1 and any mask input all ones), whatever it
 *   does with padding. Quadratic in the length, but exactly the model.
 * - MaskTokenFallbackSteps: the fused step, except that a sequence holding
 *   the token id a Keras Embedding masks (mask_zero: id 0 is padding wherever
 *   it appears, and attention skips it), which the fused step cannot express,
 *   makes the batch continue on the model itself from that token on.
 *
 * layersInterface says how to feed the model: which input takes the token
 * ids, which the position ids, which a mask; and which output is the logits.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {LayerLike, LayersDecoder, logitsOutput} from './layers_decoder';
import {StepModel, WholeSequenceSteps} from './step_models';

export interface LayersInterface {
  /** Per model input: what it is fed. */
  inputs: Array<'tokens' | 'positions' | 'mask'>;
  dtypes: tf.DataType[];
  /** Index in model.outputs of the logits. */
  output: number;
  vocab: number;
  positions: number;
}

/** Every layer, nested models' layers included. */
function allLayers(layers: unknown[]): LayerLike[] {
  return layers.flatMap(layer => {
    const nested = (layer as {layers?: unknown}).layers;
    return [layer as LayerLike, ...(Array.isArray(nested) ? allLayers(nested) : [])];
  });
}

/** The Embedding that reads a model input directly, if any. */
function embeddingOf(model: LayersModel, input: LayerLike): {rows: number} | null {
  for (const layer of allLayers(model.layers)) {
    if (layer.getClassName() !== 'Embedding') continue;
    if (layer.inboundNodes.some(n => n.inboundLayers.includes(input))) return {rows: Number(layer.getConfig()['inputDim'])};
  }
  return null;
}

/**
 * How to feed the model token ids: from the recognised decoder, else by the
 * inputs' names (a mask input, a position input, and the token ids). A model
 * whose attention is known to look both ways (a MultiHeadAttention called
 * without use_causal_mask) is no language model to generate with: refused.
 */
export function layersInterface(model: LayersModel, decoder: LayersDecoder | null, maxLength: number): LayersInterface | string {
  const dtypes = model.inputs.map(i => i.dtype);
  if (decoder) {
    return {
      inputs: model.inputs.map((_, i) => (i === decoder.positionInput ? 'positions' : 'tokens')), dtypes,
      output: decoder.output, vocab: decoder.weights.wordEmbeddings.shape[0], positions: decoder.positions,
    };
  }
  for (const layer of allLayers(model.layers)) {
    if (layer.getClassName() !== 'MultiHeadAttention') continue;
    for (const node of layer.inboundNodes) {
      const args = node.callArgs ?? {};
      if (args['useCausalMask'] !== true && args['use_causal_mask'] !== true) {
        return `MultiHeadAttention '${layer.name}' is called without use_causal_mask: its attention looks both ways ` +
            '(an encoder), so the model is not a language model to generate with';
      }
    }
  }
  const names = model.inputLayers.map(l => l.name);
  const inputs = names.map((name): 'tokens' | 'positions' | 'mask' =>
    (/mask/i.test(name) ? 'mask' : /position|pos_ids|^pos$/i.test(name) ? 'positions' : 'tokens'));
  const tokens = inputs.flatMap((kind, i) => (kind === 'tokens' ? [i] : []));
  if (tokens.length !== 1) {
    return tokens.length === 0 ? `no token-id input among the model's inputs (${names.join(', ')})` :
      `the model takes inputs besides token ids, position ids and a mask (${tokens.map(i => names[i]).join(', ')})`;
  }
  const ranks = model.inputs.map(i => i.shape.length);
  const wrong = ranks.findIndex(r => r !== 2);
  if (wrong >= 0) return `the input '${names[wrong]}' has rank ${ranks[wrong]}, not [batch, sequence]`;
  const output = logitsOutput(model);
  if (typeof output === 'string') return output;
  const shape = model.outputs[output].shape;
  const vocab = shape[shape.length - 1];
  if (shape.length !== 3 || typeof vocab !== 'number' || vocab < 1) {
    return `the output '${model.outputNames[output]}' of shape [${shape.join(', ')}] is not logits [batch, sequence, vocabulary]`;
  }
  const tokenEmbedding = embeddingOf(model, model.inputLayers[tokens[0]] as unknown as LayerLike);
  if (tokenEmbedding && tokenEmbedding.rows < vocab) {
    return `the logits cover ${vocab} tokens but the token embedding has ${tokenEmbedding.rows} rows`;
  }
  let positions = maxLength;
  inputs.forEach((kind, i) => {
    const table = kind === 'positions' ? embeddingOf(model, model.inputLayers[i] as unknown as LayerLike) : null;
    if (table) positions = Math.min(positions, table.rows);
  });
  return {inputs, dtypes, output, vocab, positions};
}

export class LayersRecomputeSteps extends WholeSequenceSteps {
  constructor(private readonly model: LayersModel, private readonly feed: LayersInterface) {
    super(feed.vocab, feed.positions);
  }

  /** Batches sequences of equal length (nothing is padded). */
  protected run(which: number[]): Map<number, Float32Array> {
    const out = new Map<number, Float32Array>();
    const byLength = new Map<number, number[]>();
    for (const b of which) {
      const length = this.sequences[b].length;
      byLength.set(length, [...(byLength.get(length) ?? []), b]);
    }
    for (const [length, group] of byLength) {
      const ids = new Int32Array(group.length * length);
      group.forEach((b, row) => ids.set(this.sequences[b], row * length));
      const logits = tf.tidy(() => {
        const shape: [number, number] = [group.length, length];
        const feeds = this.feed.inputs.map((kind, i) => {
          const dtype = this.feed.dtypes[i] === 'float32' ? 'float32' : 'int32';
          if (kind === 'tokens') return tf.cast(tf.tensor2d(ids, shape, 'int32'), dtype);
          if (kind === 'mask') return tf.ones(shape, dtype);
          return tf.tile(tf.reshape(tf.range(0, length, 1, dtype), [1, length]), [group.length, 1]);
        });
        const result = this.model.predict(feeds.length === 1 ? feeds[0] : feeds, {batchSize: group.length});
        const all = (Array.isArray(result) ? result[this.feed.output] : result) as tf.Tensor;
        return tf.reshape(tf.slice(all, [0, length - 1, 0], [group.length, 1, this.vocab]), [group.length, this.vocab]);
      });
      const values = logits.dataSync() as Float32Array;
      logits.dispose();
      group.forEach((b, row) => out.set(b, values.slice(row * this.vocab, (row + 1) * this.vocab)));
    }
    return out;
  }

}

/** The fused steps until a sequence holds the masked token id; the model itself from then on. */
export class MaskTokenFallbackSteps implements StepModel {
  readonly vocab: number;
  readonly positions: number;
  private active: StepModel | null = null;
  private sequences: number[][] = [];
  private capacity = 0;

  constructor(private readonly fused: StepModel, private readonly model: StepModel, private readonly maskTokenId: number) {
    this.vocab = fused.vocab;
    this.positions = fused.positions;
  }

  begin(prompts: number[][], capacity: number): Float32Array[] {
    this.end();
    this.sequences = prompts.map(p => p.slice());
    this.capacity = capacity;
    this.active = prompts.some(p => p.includes(this.maskTokenId)) ? this.model : this.fused;
    return this.active.begin(prompts, capacity);
  }

  next(tokens: Array<number | null>): Array<Float32Array | null> {
    tokens.forEach((t, b) => {
      if (t !== null) this.sequences[b].push(t);
    });
    if (this.active === this.fused && tokens.some(t => t === this.maskTokenId)) {
      this.fused.end();
      this.active = this.model;
      const rows = this.model.begin(this.sequences, this.capacity);
      return rows.map((row, b) => (tokens[b] === null ? null : row));
    }
    return (this.active as StepModel).next(tokens);
  }

  end(): void {
    this.fused.end();
    this.model.end();
    this.active = null;
    this.sequences = [];
  }
}
