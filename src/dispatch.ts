/**
 * Decides, per call, whether an op runs its fused kernel or the composite of
 * plain tfjs ops. Looking the kernel up at call time (not import time) is what
 * makes the import order of backends and of this package irrelevant.
 */
import * as tf from '@tensorflow/tfjs-core';
import {getKernelPreference} from './config';

export function fusedKernelAvailable(kernelName: string, backendName = tf.getBackend()): boolean {
  if (getKernelPreference() === 'composite') return false;
  return tf.getKernel(kernelName, backendName) != null;
}

/**
 * An empty float tensor standing in for an absent optional input, so kernels
 * always get the same named inputs (tfjs saves gradient inputs by name and
 * cannot save a missing one). Kernels read the matching `has...` attribute.
 */
export function placeholder(): tf.Tensor {
  return tf.zeros([0]);
}
