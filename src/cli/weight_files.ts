/**
 * Whether a model.json's weight shards are next to it: `inspect` reads them
 * when they are (and then reports what `convert` would), and plans from the
 * topology alone when they are not.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as tf from '@tensorflow/tfjs-core';

/** The shards the manifest lists that are not beside model.json (empty when all are, or when it lists none). */
export function missingWeightFiles(modelJsonFile: string, json: tf.io.ModelJSON): string[] {
  const dir = path.dirname(modelJsonFile);
  return (json.weightsManifest ?? []).flatMap(group => group.paths).filter(p => !fs.existsSync(path.join(dir, p)));
}
