import {getKernelPreference} from '../../../config';
import {NativeCore, nativeCore} from './addon';

/** The native core when the `cpu` kernels should use it (loaded, and not forced to 'portable'), else null. */
export function activeNativeCore(): NativeCore | null {
  return getKernelPreference() === 'portable' ? null : nativeCore();
}
