/** Reports which implementation each op would use on a backend right now, and why not a fused one. */
import * as tf from '@tensorflow/tfjs-core';
import {backendKernels, Implementation} from './backends/registry';
import {fusedKernelAvailable} from './dispatch';
import {FusedScaledDotProductAttention, FusedTransformerEncoderLayer, FusedTransformerEncoderStack} from './kernel_names';

export type {Implementation} from './backends/registry';

export interface ActiveImplementations {
  backend: string;
  scaledDotProductAttention: Implementation;
  transformerEncoderLayer: Implementation;
  transformerEncoderStack: Implementation;
  /** Why the fused kernels are not used on this backend, when they are not. */
  reason: string | null;
}

export function activeImplementations(backend: string = tf.getBackend()): ActiveImplementations {
  const kernels = backendKernels(backend);
  const describe = (kernelName: string): Implementation =>
      fusedKernelAvailable(kernelName, backend) && kernels ? kernels.implementation() : 'composite-tfjs-ops';
  const sdpa = describe(FusedScaledDotProductAttention);
  return {
    backend,
    scaledDotProductAttention: sdpa,
    transformerEncoderLayer: describe(FusedTransformerEncoderLayer),
    transformerEncoderStack: describe(FusedTransformerEncoderStack),
    reason: sdpa !== 'composite-tfjs-ops' ? null :
        !kernels ? `no fused kernels for backend '${backend}'` : kernels.unavailableReason() ?? 'kernel preference',
  };
}
