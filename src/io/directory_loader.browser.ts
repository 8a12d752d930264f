/**
 * The browser build's twin of directory_loader.ts: the same three functions,
 * taking the URL of a model directory (or of its model.json), absolute or
 * relative to the page, and loading over HTTP with tfjs's own handler
 * (`tf.io.http`: model.json, then the shards it lists next to it). `save()`
 * POSTs model.json and the weights to that URL, as `tf.io.http` does.
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModel} from '@tensorflow/tfjs-converter';
import {LayersModel, loadLayersModel} from '@tensorflow/tfjs-layers';
import {BetterTransformerArgumentError} from '../errors';

/** The URL of a directory holding model.json, or of the model.json itself. */
export type ModelLocation = string;

/** The model.json URL of a location: kept when it names a .json file, else `<location>/model.json`. */
function modelJsonUrl(location: unknown, op: string): string {
  if (typeof location !== 'string' || location.length === 0) {
    throw new BetterTransformerArgumentError(
        `${op}: 'location' must be the URL of a model directory (or its model.json) as a non-empty string, got ${typeof location}`);
  }
  if (/^file:\/\//i.test(location)) {
    throw new BetterTransformerArgumentError(`${op}: 'location' ${location} is a file URL, which a page cannot fetch; ` +
        `serve the model over HTTP and pass its URL`);
  }
  const [, path, rest] = /^([^?#]*)(.*)$/s.exec(location) as RegExpExecArray;
  if (/\.json$/i.test(path)) return location;
  return `${path.replace(/\/+$/, '')}/model.json${rest}`;
}

/** An `io.IOHandler` for a model directory served over HTTP (`tf.io.http` on its model.json). */
export function directoryIOHandler(location: ModelLocation): tf.io.IOHandler {
  return tf.io.http(modelJsonUrl(location, 'directoryIOHandler'));
}

/** A converted graph model (tensorflowjs_converter's tfjs_graph_model) from a directory URL. */
export async function loadGraphModelFromDirectory(location: ModelLocation, options?: tf.io.LoadOptions): Promise<GraphModel> {
  return loadGraphModel(tf.io.http(modelJsonUrl(location, 'loadGraphModelFromDirectory'), options), options);
}

/** A converted Keras model (tfjs layers-model format) from a directory URL. */
export async function loadLayersModelFromDirectory(location: ModelLocation, options?: tf.io.LoadOptions): Promise<LayersModel> {
  return loadLayersModel(tf.io.http(modelJsonUrl(location, 'loadLayersModelFromDirectory'), options), options);
}
