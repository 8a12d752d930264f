/**
 * The backend the CLI runs on: `tensorflow` when tfjs-node or tfjs-node-gpu is installed (or when asked
 * for), else `cpu`.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../index';
import {loadTfjsNode} from '../backends/tensorflow/load_tfjs_node';

export async function prepareBackend(requested?: string): Promise<string> {
  if (requested !== 'cpu') {
    try {
      loadTfjsNode();
    } catch (e) {
      if (requested === 'tensorflow') {
        throw new Error(`the tensorflow backend needs @tensorflow/tfjs-node or @tensorflow/tfjs-node-gpu: ${(e as Error).message}`);
      }
    }
  }
  const name = requested ?? (tf.findBackend('tensorflow') ? 'tensorflow' : 'cpu');
  if (!(await tf.setBackend(name))) throw new Error(`cannot use the ${name} backend`);
  await tf.ready();
  return name;
}
