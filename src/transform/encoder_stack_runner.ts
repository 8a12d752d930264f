/**
 * Runs a chain of encoder layers for the stack graph op. When every layer
 * has the same options (the usual case) the chain runs as one
 * transformerEncoderStack call, which removes padding once for all layers;
 * otherwise it falls back to a loop of transformerEncoderLayer.
 */
import * as tf from '@tensorflow/tfjs-core';
import {transformerEncoderLayer, TransformerEncoderLayerOptions, TransformerEncoderLayerWeights} from '../ops/transformer_encoder_layer';
import {transformerEncoderStack} from '../ops/transformer_encoder_stack';

function sameOptions(a: TransformerEncoderLayerOptions, b: TransformerEncoderLayerOptions): boolean {
  return JSON.stringify({...a, keyPaddingMask: undefined}) === JSON.stringify({...b, keyPaddingMask: undefined}) &&
      a.keyPaddingMask === b.keyPaddingMask;
}

export function runEncoderStack(
    x: tf.Tensor3D, layers: TransformerEncoderLayerWeights[],
    optionsOf: (layer: number) => TransformerEncoderLayerOptions): tf.Tensor3D {
  const options = layers.map((_, i) => optionsOf(i));
  if (options.every(o => sameOptions(o, options[0]))) return transformerEncoderStack(x, layers, options[0]);
  let h = x;
  layers.forEach((weights, i) => {
    const next = transformerEncoderLayer(h, weights, options[i]);
    if (h !== x) h.dispose();
    h = next;
  });
  return h;
}
