/** The backend the CLI runs on: tfjs-node's `tensorflow` when installed (or asked for), else `cpu`. */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '../index';

export async function prepareBackend(requested?: string): Promise<string> {
  if (requested !== 'cpu') {
    try {
      require('@tensorflow/tfjs-node');
    } catch (e) {
      if (requested === 'tensorflow') throw new Error(`the tensorflow backend needs @tensorflow/tfjs-node: ${(e as Error).message}`);
    }
  }
  const name = requested ?? (tf.findBackend('tensorflow') ? 'tensorflow' : 'cpu');
  if (!(await tf.setBackend(name))) throw new Error(`cannot use the ${name} backend`);
  await tf.ready();
  return name;
}
