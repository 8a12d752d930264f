/** Validation and normalisation of transformerEncoderStack's arguments. */
import * as tf from '@tensorflow/tfjs-core';
import {EncoderStackAttrs, MAX_LAYERS} from '../op_table';
import {
  requireEncoderActivations, TransformerEncoderLayerOptions, validateEncoderOptions, validateEncoderWeights,
} from './encoder_args';
import {describeValue, fail} from './validate';

/** The stack's options: those of transformerEncoderLayer, applied to every layer (attentionBias too). */
export type TransformerEncoderStackOptions = TransformerEncoderLayerOptions;

export interface EncoderStackArgs {
  x: tf.Tensor3D;
  /** Per layer: the weights of its QKV form plus the common ones, by kernel input name. */
  layers: Array<Record<string, tf.Tensor>>;
  keyPaddingMask: tf.Tensor | null;
  attentionBias: tf.Tensor | null;
  attrs: EncoderStackAttrs;
}

export function validateEncoderStackArgs(op: string, x: unknown, layers: unknown, options: unknown): EncoderStackArgs {
  const o = validateEncoderOptions(op, x, options);
  // The length is read once (a Proxy could change it) and every index visited (a sparse array's holes are missing layers).
  const count = Array.isArray(layers) ? layers.length : 0;
  if (!Array.isArray(layers) || count === 0) {
    fail(op, `layers must be a non-empty array of layer weights, got ${
        Array.isArray(layers) ? 'an empty array' : describeValue(layers)}`);
  }
  if (count > MAX_LAYERS) fail(op, `layers has ${count} entries; at most ${MAX_LAYERS} are supported`);
  const checked = Array.from({length: count},
                             (_, i) => validateEncoderWeights(op, `layers[${i}]`, layers[i], o.dims.embed, o.normKind));
  for (const w of checked) requireEncoderActivations(op, o.dims, w.ffn);
  // One MLP form for the whole stack (gatedMlp is a stack attribute).
  const gated = checked[0].gated;
  const other = checked.findIndex(w => w.gated !== gated);
  if (other >= 0) {
    fail(op, `layers[${other}]${gated ? ' has no gateWeight but layers[0] has one' : '.gateWeight is given but ' +
             'layers[0] has none'}: every layer's MLP must be gated (gateWeight given) or none`);
  }
  const attrs: EncoderStackAttrs = {
    numLayers: checked.length, numHeads: o.numHeads, normFirst: o.normFirst, activation: o.activation,
    isCausal: o.isCausal, scale: o.scale, packedQkv: checked.map(w => w.packedQkv),
    layerNormEps1: checked.map(() => o.eps1), layerNormEps2: checked.map(() => o.eps2),
    hasKeyPaddingMask: o.keyPaddingMask != null, normKind: o.normKind, gatedMlp: gated,
    hasAttentionBias: o.attentionBias != null, precision: o.precision,
  };
  return {
    x: o.x, layers: checked.map(w => w.weights), keyPaddingMask: o.keyPaddingMask, attentionBias: o.attentionBias,
    attrs,
  };
}
