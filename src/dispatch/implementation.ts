/** Reports which implementation each op would use on a backend right now, and why not a fused one. */
import * as tf from '@tensorflow/tfjs-core';
import {backendKernels, Implementation} from '../backends/registry';
import {OP_NAMES, OpName, opNames, OPS} from '../op_table';
import {fusedKernelAvailable} from './dispatch';

export type {Implementation} from '../backends/registry';

/** Ops with a public function (every op but the backward kernels). */
type PublicOpName = {[K in OpName]: (typeof OPS)[K]['exported'] extends true ? K : never}[OpName];

/** One entry per public op, keyed by its function name (`scaledDotProductAttention`, ...). */
export type ActiveImplementations = {[K in PublicOpName as Uncapitalize<K>]: Implementation} & {
  backend: string;
  /** Why the fused kernels are not used on this backend, when they are not. */
  reason: string | null;
};

export function implementationOf(op: OpName, backend: string = tf.getBackend()): Implementation {
  const kernels = backendKernels(backend);
  return fusedKernelAvailable(op, backend) && kernels ? kernels.implementation(op) : 'composite-tfjs-ops';
}

export function activeImplementations(backend: string = tf.getBackend()): ActiveImplementations {
  const kernels = backendKernels(backend);
  const report: Record<string, unknown> = {backend};
  for (const op of OP_NAMES) {
    if (OPS[op].exported) report[opNames(op).function] = implementationOf(op, backend);
  }
  const fused = implementationOf('ScaledDotProductAttention', backend) !== 'composite-tfjs-ops';
  report.reason = fused ? null :
      !kernels ? `no fused kernels for backend '${backend}'` : kernels.unavailableReason() ?? 'kernel preference';
  return report as ActiveImplementations;
}
