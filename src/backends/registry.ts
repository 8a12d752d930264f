/**
 * Every backend this package has fused kernels for: which kernels, what the
 * implementation is called in reports, and whether it can run right now (the
 * `tensorflow` kernels need the TensorFlow op library to load). Like
 * tfjs-backend-cpu's kernel list, one table says everything.
 */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {getKernelPreference} from '../config';
import {nativeCore} from './cpu/native_addon';
import {cpuKernelConfigs} from './cpu/register';
import {tensorflowOpLibraryStatus} from './tensorflow/op_library';
import {tensorflowKernelConfigs} from './tensorflow/register';

export type Implementation = 'native-cpu' | 'portable-typescript' | 'tensorflow-op-library' | 'composite-tfjs-ops';

export interface BackendKernels {
  backendName: string;
  /** What the registered kernels run right now. */
  implementation(): Implementation;
  /** Whether the kernels can run under the 'portable' preference (TypeScript only). */
  portable: boolean;
  kernels: KernelConfig[];
  /** Why the kernels cannot run now, or null when they can. */
  unavailableReason(): string | null;
}

export const BACKEND_KERNELS: BackendKernels[] = [
  {
    backendName: 'cpu',
    implementation: () => getKernelPreference() !== 'portable' && nativeCore() ? 'native-cpu' : 'portable-typescript',
    portable: true,
    kernels: cpuKernelConfigs,
    unavailableReason: () => null,
  },
  {
    backendName: 'tensorflow',
    implementation: () => 'tensorflow-op-library',
    portable: false,
    kernels: tensorflowKernelConfigs,
    unavailableReason: () => {
      const status = tensorflowOpLibraryStatus();
      return status.loaded ? null : `TensorFlow op library ${status.path}: ${status.error}`;
    },
  },
];

export function backendKernels(backendName: string): BackendKernels | undefined {
  return BACKEND_KERNELS.find(b => b.backendName === backendName);
}
