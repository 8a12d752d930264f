/**
 * Registers every kernel, composite and gradient of this package with tfjs,
 * the graph ops a rewritten model calls, and the Keras layer. Kernels are
 * registered by backend *name*, which tfjs looks up at call time, so it does
 * not matter whether a backend is imported before or after this package.
 * Registering twice (e.g. a CommonJS and an ESM copy of this package in one
 * process) is harmless: an existing registration is left as it is.
 */
import * as tf from '@tensorflow/tfjs-core';
import {BACKEND_KERNELS} from './backends/registry';
import {registerComposites} from './composite/register';
import {registerGradients} from './gradients/register';
import {registerLayers} from './layers/register_layers';
import {registerGraphOps} from './transform/graph_ops';

export const KERNEL_CONFIGS: tf.KernelConfig[] = BACKEND_KERNELS.flatMap(b => b.kernels);

export function registerAll(): void {
  for (const config of KERNEL_CONFIGS) {
    if (tf.getKernel(config.kernelName, config.backendName) == null) tf.registerKernel(config);
  }
  registerComposites();
  registerGradients();
  // The ops a rewritten GraphModel calls (BetterTransformer.transform, `convert`).
  registerGraphOps();
  // Keras MultiHeadAttention for tf.loadLayersModel (tfjs-layers itself is loaded only on use).
  registerLayers();
}
