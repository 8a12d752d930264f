/**
 * Registers every kernel and gradient of this package with tfjs. Kernels are
 * registered by backend *name*, which tfjs looks up at call time, so it does
 * not matter whether a backend is imported before or after this package.
 * Registering twice (e.g. a CommonJS and an ESM copy of this package in one
 * process) is harmless: an existing registration is left as it is.
 */
import * as tf from '@tensorflow/tfjs-core';
import {BACKEND_KERNELS} from './backends/registry';
import {encoderLayerGradConfig} from './gradients/encoder_layer_grad';
import {encoderStackGradConfig} from './gradients/encoder_stack_grad';
import {sdpaGradConfig} from './gradients/sdpa_grad';
import {registerLayers} from './layers/register_layers';
import {registerGraphOps} from './transform/graph_ops';

export const KERNEL_CONFIGS: tf.KernelConfig[] = BACKEND_KERNELS.flatMap(b => b.kernels);
export const GRADIENT_CONFIGS: tf.GradConfig[] = [sdpaGradConfig, encoderLayerGradConfig, encoderStackGradConfig];

export function registerAll(): void {
  for (const config of KERNEL_CONFIGS) {
    if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
  }
  for (const config of GRADIENT_CONFIGS) {
    if (tf.getGradient(config.kernelName) == null) tf.registerGradient(config);
  }
  // The ops a rewritten GraphModel calls (BetterTransformer.transform, `convert`).
  registerGraphOps();
  // Keras MultiHeadAttention for tf.loadLayersModel (tfjs-layers itself is loaded only on use).
  registerLayers();
}
