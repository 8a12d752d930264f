/**
 * Loads tfjs-layers, a peer dependency whose import registers the gradients
 * of tfjs-core's ops: in Node with `require`, on first need only. The browser
 * build's twin (load_tfjs_layers.browser.ts) imports it with the bundle.
 */
export function loadTfjsLayers(): void {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  require('@tensorflow/tfjs-layers');
}
