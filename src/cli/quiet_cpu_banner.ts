/**
 * tfjs-backend-cpu prints "Hi, looks like you are running TensorFlow.js in
 * Node.js. To speed things up dramatically, install our node backend …" on the
 * first tensor it stores, through tfjs' own warn(), which stays silent while the
 * PROD flag is set. The CLI says which backend it runs on and how to get
 * tfjs-node itself, so that first store is made here with PROD set, and the
 * flag put back: tfjs' other warnings still print. Called before any command
 * runs, on the cpu backend the engine keeps; a command must then pick its
 * backend with tf.setBackend (prepareBackend) before it makes a tensor, since
 * the engine's automatic choice would make a new cpu backend, banner and all.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export function consumeCpuBackendBanner(): void {
  const cpu = tf.findBackend('cpu');
  if (!cpu) return;
  const prod = tf.env().getBool('PROD');
  tf.env().set('PROD', true);
  try {
    cpu.disposeData(cpu.write(new Float32Array(1), [1], 'float32'));
  } finally {
    tf.env().set('PROD', prod);
  }
}
