import * as tf from '@tensorflow/tfjs-core';
import {BetterTransformerArgumentError} from '../errors';
import {loadTfjsLayers} from './load_tfjs_layers';

/**
 * Backward passes that differentiate a composite of tfjs ops need the
 * gradients of those ops. tfjs-core does not register them itself: the
 * @tensorflow/tfjs union package and tfjs-layers do, on import. When neither
 * has been imported yet, tfjs-layers (a peer dependency) is loaded here, on
 * first use, so that inference never pays for it.
 */
export function ensureCoreGradients(): void {
  if (tf.getGradient('MatMul') != null && tf.getGradient('Sum') != null) return;
  try {
    loadTfjsLayers();
  } catch (e) {
    throw new BetterTransformerArgumentError(
        'gradients of tfjs core ops are not registered: import @tensorflow/tfjs or @tensorflow/tfjs-layers ' +
        `to train through fused layers (${(e as Error).message})`);
  }
}
