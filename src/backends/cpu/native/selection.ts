import {getKernelPreference} from '../../../config';
import {NativeCore, nativeCore} from './addon';

/** The native core when the `cpu` kernels should use it (loaded, and not forced to 'portable'), else null. */
export function activeNativeCore(): NativeCore | null {
  return getKernelPreference() === 'portable' ? null : nativeCore();
}

/**
 * The active native core when it has `fn` (an addon built from an older
 * checkout may lack the newer ops: their kernels then run portable).
 */
export function activeNativeCoreWith(fn: keyof NativeCore): NativeCore | null {
  const core = activeNativeCore();
  return core && typeof core[fn] === 'function' ? core : null;
}
