/** Reports which implementation each op would use on a backend right now. */
import * as tf from '@tensorflow/tfjs-core';
import {fusedKernelAvailable} from './dispatch';
import {FusedScaledDotProductAttention, FusedTransformerEncoderLayer} from './kernel_names';

export type Implementation = 'portable-typescript' | 'composite-tfjs-ops';

export interface ActiveImplementations {
  backend: string;
  scaledDotProductAttention: Implementation;
  transformerEncoderLayer: Implementation;
}

function describe(kernelName: string, backend: string): Implementation {
  // Only the portable TypeScript kernels exist so far; native ones register under the same names.
  return fusedKernelAvailable(kernelName, backend) ? 'portable-typescript' : 'composite-tfjs-ops';
}

export function activeImplementations(backend: string = tf.getBackend()): ActiveImplementations {
  return {
    backend,
    scaledDotProductAttention: describe(FusedScaledDotProductAttention, backend),
    transformerEncoderLayer: describe(FusedTransformerEncoderLayer, backend),
  };
}
