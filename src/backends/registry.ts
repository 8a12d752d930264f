/**
 * Every backend this package has fused kernels for: which kernels, what an
 * op's kernel runs there, and whether the backend's kernels can run right now
 * (the `tensorflow` kernels need the TensorFlow op library to load). Which
 * ops a backend implements is the op table's `kernels` field; the kernel
 * lists in each backend's register.ts must match it (test/op_table.test.ts).
 */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {getKernelPreference} from '../config';
import {BackendName, OpName, opDef} from '../op_table';
import {nativeCore} from './cpu/native/addon';
import {cpuKernelConfigs} from './cpu/register';
import {tensorflowOpLibraryStatus} from './tensorflow/op_library';
import {tensorflowKernelConfigs} from './tensorflow/register';

export type Implementation = 'native-cpu' | 'portable-typescript' | 'tensorflow-op-library' | 'composite-tfjs-ops';

export interface BackendKernels {
  backendName: BackendName;
  kernels: KernelConfig[];
  /** Whether the op table gives `op` a kernel on this backend. */
  declares(op: OpName): boolean;
  /** What `op`'s registered kernel runs right now. */
  implementation(op: OpName): Implementation;
  /** Whether the kernels can run under the 'portable' preference (TypeScript only). */
  portable: boolean;
  /** Why the kernels cannot run now, or null when they can. */
  unavailableReason(): string | null;
}

export const BACKEND_KERNELS: BackendKernels[] = [
  {
    backendName: 'cpu',
    kernels: cpuKernelConfigs,
    declares: op => opDef(op).kernels.cpu !== undefined,
    implementation: op => {
      const kinds: readonly string[] = opDef(op).kernels.cpu ?? [];
      return kinds.includes('native') && getKernelPreference() !== 'portable' && nativeCore() ?
        'native-cpu' : 'portable-typescript';
    },
    portable: true,
    unavailableReason: () => null,
  },
  {
    backendName: 'tensorflow',
    kernels: tensorflowKernelConfigs,
    declares: op => (opDef(op).kernels.tensorflow?.length ?? 0) > 0,
    implementation: () => 'tensorflow-op-library',
    portable: false,
    unavailableReason: () => {
      const status = tensorflowOpLibraryStatus();
      return status.loaded ? null : `TensorFlow op library ${status.path}: ${status.error}`;
    },
  },
];

export function backendKernels(backendName: string): BackendKernels | undefined {
  return BACKEND_KERNELS.find(b => b.backendName === backendName);
}
