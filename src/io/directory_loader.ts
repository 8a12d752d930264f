/**
 * Loading converted models from a directory on disk with tfjs-core alone: no
 * tfjs-node, no `fetch`. `tf.loadGraphModel('file://…')` needs tfjs-node's
 * file system handler; without it tfjs falls back to `fetch`, which fails on
 * file URLs. These read model.json and its weight shards with `fs`, checking
 * the shards against the weights manifest (io/model_files.ts), so a damaged
 * model is reported in one line.
 *
 * The browser build has a twin of this module taking URLs
 * (directory_loader.browser.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import {GraphModel, loadGraphModel} from '@tensorflow/tfjs-converter';
import type {LayersModel} from '@tensorflow/tfjs-layers';
import {BetterTransformerArgumentError} from '../errors';
import {readModelArtifacts, writeModelArtifacts} from './model_files';

/** A directory holding model.json, or the model.json itself; a `file://` prefix is accepted. */
export type ModelLocation = string;

function localPath(location: unknown, op: string): string {
  if (typeof location !== 'string' || location.length === 0) {
    throw new BetterTransformerArgumentError(
        `${op}: 'location' must be a directory (or its model.json) as a non-empty string, got ${typeof location}`);
  }
  if (/^https?:\/\//i.test(location)) {
    throw new BetterTransformerArgumentError(`${op}: 'location' ${location} is a URL; in Node pass a local directory ` +
        `(or tf.loadGraphModel / tf.loadLayersModel for URLs)`);
  }
  return location.replace(/^file:\/\//i, '');
}

/**
 * An `io.IOHandler` for a model directory: `load()` reads model.json and its
 * shards; `save()` writes model.json and one shard (`model.save(handler)`).
 */
export function directoryIOHandler(location: ModelLocation): tf.io.IOHandler {
  const dir = localPath(location, 'directoryIOHandler');
  return {
    load: async () => readModelArtifacts(dir),
    save: async (artifacts: tf.io.ModelArtifacts) => {
      writeModelArtifacts(dir, artifacts, artifacts.convertedBy ?? 'tfjs-better-transformer directoryIOHandler');
      return {modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts)};
    },
  };
}

/** A converted graph model (tensorflowjs_converter's tfjs_graph_model) from a directory. */
export async function loadGraphModelFromDirectory(location: ModelLocation, options?: tf.io.LoadOptions): Promise<GraphModel> {
  return loadGraphModel(directoryIOHandler(localPath(location, 'loadGraphModelFromDirectory')), options);
}

/** A converted Keras model (tfjs layers-model format) from a directory. */
export async function loadLayersModelFromDirectory(location: ModelLocation, options?: tf.io.LoadOptions): Promise<LayersModel> {
  const handler = directoryIOHandler(localPath(location, 'loadLayersModelFromDirectory'));
  // tfjs-layers is loaded on first need, as everywhere in the package: importing it registers the
  // gradients of tfjs-core's ops (gradients/load_tfjs_layers.ts), which an import of this package must not.
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const {loadLayersModel} = require('@tensorflow/tfjs-layers') as typeof import('@tensorflow/tfjs-layers');
  return loadLayersModel(handler, options);
}
