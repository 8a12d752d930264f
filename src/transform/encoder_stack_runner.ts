/**
 * Runs a chain of encoder layers for the stack graph op: each layer on the
 * previous one's output, intermediates freed as soon as the next layer has
 * read them. With a key padding mask every layer skips the padded tokens.
 */
import * as tf from '@tensorflow/tfjs-core';
import {transformerEncoderLayer, TransformerEncoderLayerOptions, TransformerEncoderLayerWeights} from '../ops/transformer_encoder_layer';

export function runEncoderStack(
    x: tf.Tensor3D, layers: TransformerEncoderLayerWeights[],
    optionsOf: (layer: number) => TransformerEncoderLayerOptions): tf.Tensor3D {
  let h = x;
  layers.forEach((weights, i) => {
    const next = transformerEncoderLayer(h, weights, optionsOf(i));
    if (h !== x) h.dispose();
    h = next;
  });
  return h;
}
