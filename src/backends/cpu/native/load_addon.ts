/**
 * Finding and loading the native core addon in Node: node-gyp-build from the
 * package root (a build of binding.gyp or a prebuild in prebuilds/), or the
 * file TFJS_BT_NATIVE_PATH names; TFJS_BT_NATIVE=off skips it. The browser
 * build uses load_addon.browser.ts instead (no addon there).
 */
import {packageRoot} from '../../../package_root';

import type {NativeKernels} from './api';

/** The loaded core, or why there is none and whether that deserves a warning. */
export type AddonLoad = {core: NativeKernels} | {core: null; failure: string; warn: boolean};

export function loadNativeAddon(): AddonLoad {
  if (process.env.TFJS_BT_NATIVE === 'off') return {core: null, failure: 'disabled by TFJS_BT_NATIVE=off', warn: false};
  try {
    const override = process.env.TFJS_BT_NATIVE_PATH;
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const load = require('node-gyp-build') as (dir: string) => NativeKernels;
    return {core: override ? require(override) as NativeKernels : load(packageRoot())};
  } catch (e) {
    return {core: null, failure: (e as Error).message.split('\n')[0], warn: true};
  }
}
