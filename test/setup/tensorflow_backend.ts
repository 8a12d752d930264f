// The backend-agnostic suites, run on tfjs-node's `tensorflow` backend.
process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL ?? '2';
import '@tensorflow/tfjs-node';
import * as tf from '@tensorflow/tfjs-core';

beforeAll(async () => {
  await tf.setBackend('tensorflow');
  await tf.ready();
  if (tf.getBackend() !== 'tensorflow') throw new Error('the tensorflow backend did not initialise');
});
