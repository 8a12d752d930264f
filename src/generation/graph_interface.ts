/**
 * How the recompute path feeds a converted graph: its token-id input, the
 * attention mask (when it has one), pasts to feed empty, and the logits
 * output. From the recognised decoder when there is one; otherwise from the
 * signature's names (input_ids, attention_mask, logits), with the vocabulary
 * size read from the logits of a one-token probe.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import type {GraphDecoder} from './graph_decoder';
import type {GraphInterface} from './step_models';

const strip = (name: string | undefined) => (name ?? '').replace(/:0$/, '');

export function graphInterface(model: GraphModel, decoder: GraphDecoder | null, maxLength: number): GraphInterface | string {
  if (decoder) {
    const r = decoder.recognised;
    const kvHeads = decoder.config.numKvHeads ?? decoder.config.numHeads;
    const qWidth = decoder.weights.layers[0]?.qkvWeight?.shape[1] ?? decoder.weights.layers[0]?.qWeight?.shape[1] ?? 0;
    const heads = decoder.config.numHeads;
    const headDim = decoder.weights.layers[0]?.qkvWeight ? qWidth / (heads + 2 * kvHeads) : qWidth / heads;
    return {
      tokenInput: r.tokenInput, maskInput: r.maskInput, pastInputs: r.pastInputs, pastShape: {kvHeads, headDim},
      logits: r.logits, vocab: decoder.weights.wordEmbeddings.shape[0], positions: decoder.positions,
    };
  }
  const inputs = model.inputs.map(i => ({name: strip(i.name), dtype: i.dtype, rank: i.shape?.length}));
  const token = inputs.find(i => /input_ids/.test(i.name)) ?? inputs.find(i => i.dtype === 'int32' && i.rank === 2);
  if (!token) return 'no token-id input (an int32 [batch, sequence] input, e.g. input_ids)';
  const mask = inputs.find(i => i !== token && /mask/i.test(i.name)) ?? null;
  const others = inputs.filter(i => i !== token && i !== mask);
  if (others.length > 0) return `the graph takes inputs besides the token ids and the mask (${others.map(i => i.name).join(', ')})`;
  const outputs = model.outputs.map(o => strip(o.name));
  const artifacts = (model as unknown as {artifacts?: tf.io.ModelArtifacts}).artifacts;
  const signature = (artifacts?.signature as {outputs?: Record<string, {name?: string}>} | undefined)?.outputs;
  const logitsKey = signature ? Object.keys(signature).find(k => /logits/i.test(k)) : undefined;
  const logits = logitsKey ? strip(signature?.[logitsKey]?.name) : outputs[0];
  if (!logits) return 'the graph has no output';
  let vocab: number;
  try {
    vocab = tf.tidy(() => {
      const feeds: tf.NamedTensorMap = {[token.name]: tf.zeros([1, 1], 'int32')};
      if (mask) feeds[mask.name] = tf.ones([1, 1], 'int32');
      const out = model.execute(feeds, logits) as tf.Tensor;
      return out.rank === 3 ? out.shape[2] ?? -1 : -1;
    });
  } catch (e) {
    return `the graph does not run on token ids alone: ${(e as Error).message.split('\n')[0]}`;
  }
  if (vocab < 1) return `the output '${logits}' is not logits [batch, sequence, vocabulary]`;
  return {tokenInput: token.name, maskInput: mask?.name ?? null, pastInputs: [], pastShape: null, logits, vocab, positions: maxLength};
}
