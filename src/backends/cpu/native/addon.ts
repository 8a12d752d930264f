/**
 * The native core addon tfjs_bt_kernels.node (kernels/bindings/node over
 * kernels/core, built from binding.gyp at the package root at install by
 * tools/install-native.js, or a prebuild in prebuilds/), loaded once
 * (load_addon.ts says how; TFJS_BT_NATIVE=off skips it, TFJS_BT_NATIVE_PATH
 * loads another build, e.g. the sanitizer build of tools/test-sanitizers.sh).
 * Where it cannot load, the `cpu` backend keeps the portable TypeScript
 * kernels and this module warns once, saying why.
 */
import type {NativeKernels} from './api';
import {loadNativeAddon} from './load_addon';

export type NativeCore = NativeKernels;

let core: NativeCore | null | undefined;
let failure: string | null = null;

export function nativeCore(): NativeCore | null {
  if (core !== undefined) return core;
  const loaded = loadNativeAddon();
  core = loaded.core;
  if (loaded.core === null) {
    failure = loaded.failure;
    if (loaded.warn) {
      console.warn(`tfjs-better-transformer: native kernels unavailable (${failure}); using the portable TypeScript kernels`);
    }
  }
  return core;
}

/** Why the native core is not loaded, or null when it is. */
export function nativeCoreFailure(): string | null {
  nativeCore();
  return failure;
}

/** Any key padding mask's typed array as bytes (nonzero = real token), the form the addon takes. */
export function validityBytes(values: ArrayLike<number>): Uint8Array {
  if (values instanceof Uint8Array) return values;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] !== 0 ? 1 : 0;
  return out;
}
