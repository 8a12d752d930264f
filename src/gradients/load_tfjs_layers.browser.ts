/**
 * The browser build's twin of load_tfjs_layers.ts: a page has no `require`,
 * so tfjs-layers is imported with the bundle (which needs it anyway for the
 * Keras layer and the layers-model loader), and its gradients are there.
 */
import '@tensorflow/tfjs-layers';

export function loadTfjsLayers(): void {}
