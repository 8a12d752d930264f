/**
 * The browser build's twin of load_addon.ts: a page cannot load a Node addon,
 * so the `cpu` backend always runs the portable TypeScript kernels there. Not
 * a fault, so no warning.
 */
import type {AddonLoad} from './load_addon';

export function loadNativeAddon(): AddonLoad {
  return {core: null, failure: 'not available in a browser (the native core is a Node addon)', warn: false};
}
