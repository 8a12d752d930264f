/**
 * Decides, per call, whether an op runs its fused kernel or the composite of
 * plain tfjs ops. Looking the kernel up at call time (not import time) is what
 * makes the import order of backends and of this package irrelevant.
 */
import * as tf from '@tensorflow/tfjs-core';
import {backendKernels} from './backends/registry';
import {getKernelPreference} from './config';

export function fusedKernelAvailable(kernelName: string, backendName = tf.getBackend()): boolean {
  const preference = getKernelPreference();
  if (preference === 'composite') return false;
  const backend = backendKernels(backendName);
  if (!backend || tf.getKernel(kernelName, backendName) == null) return false;
  if (preference === 'portable' && !backend.portable) return false;
  return backend.unavailableReason() === null;
}

/**
 * An empty float tensor standing in for an absent optional input, so kernels
 * always get the same named inputs (tfjs saves gradient inputs by name and
 * cannot save a missing one). Kernels read the matching `has...` attribute.
 */
export function placeholder(): tf.Tensor {
  return tf.zeros([0]);
}
