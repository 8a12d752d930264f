/**
 * transformerEncoderStack as a loop of the composite encoder layer: the
 * fallback on backends without the fused stack and what its gradient
 * differentiates.
 */
import * as tf from '@tensorflow/tfjs-core';
import {EncoderLayerAttrs} from '../kernel_names';
import {compositeEncoderLayer} from './encoder_layer';

export function compositeEncoderStack(
    x: tf.Tensor, layers: Array<Record<string, tf.Tensor>>, keyPaddingMask: tf.Tensor | null,
    layerAttrs: EncoderLayerAttrs[]): tf.Tensor3D {
  return tf.tidy(() => {
    let y = x;
    layers.forEach((weights, i) => y = compositeEncoderLayer(y, weights, keyPaddingMask, layerAttrs[i]));
    return y as tf.Tensor3D;
  });
}
