/**
 * Runs an op: its fused kernel when the active backend has one that can run
 * now, else its composite of plain tfjs ops. Looking the kernel up at call
 * time (not import time) is what makes the import order of backends and of
 * this package irrelevant. Every public op, every composite that needs a
 * sub-op and the gradients go through here, so an op has one path.
 */
import * as tf from '@tensorflow/tfjs-core';
import {getKernelPreference} from '../config';
import {backendKernels} from '../backends/registry';
import {kernelName, OpName} from '../op_table';
import {compositeOf} from './composite_registry';

/** Whether `op` runs a fused kernel on `backendName` right now. */
export function fusedKernelAvailable(op: OpName, backendName = tf.getBackend()): boolean {
  const preference = getKernelPreference();
  if (preference === 'composite') return false;
  const backend = backendKernels(backendName);
  if (!backend || !backend.declares(op) || tf.getKernel(kernelName(op), backendName) == null) return false;
  if (preference === 'portable' && !backend.portable) return false;
  return backend.unavailableReason() === null;
}

/**
 * Every output of `op` on `inputs` (already validated by the public op).
 * Fused kernels may return more outputs than the composite (the attention's
 * log-sum-exp, saved for its gradient); the first output is the op's result
 * on both paths.
 */
export function runOp(op: OpName, inputs: tf.NamedTensorMap | tf.Tensor[], attrs: tf.NamedAttrMap): tf.Tensor[] {
  const named = inputs as unknown as tf.NamedTensorMap;
  if (fusedKernelAvailable(op)) {
    const out = tf.engine().runKernel(kernelName(op), named, attrs) as tf.Tensor | tf.Tensor[];
    return Array.isArray(out) ? out : [out];
  }
  const out = compositeOf(op)(named, attrs);
  return Array.isArray(out) ? out : [out];
}

/**
 * The op's result (its first output); extra outputs of a fused kernel are
 * disposed here (its gradient keeps its own reference to what it saved).
 */
export function runOpResult<T extends tf.Tensor>(op: OpName, inputs: tf.NamedTensorMap | tf.Tensor[],
    attrs: tf.NamedAttrMap): T {
  const [result, ...rest] = runOp(op, inputs, attrs);
  tf.dispose(rest);
  return result as T;
}

/**
 * An empty float tensor standing in for an absent optional input, so kernels
 * always get the same named inputs (tfjs saves gradient inputs by name and
 * cannot save a missing one). Kernels read the matching `has...` attribute.
 */
export function placeholder(): tf.Tensor {
  return tf.zeros([0]);
}
