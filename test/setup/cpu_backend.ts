// Every test runs on tfjs-backend-cpu unless it says otherwise.
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';

// Silences tfjs's "install tfjs-node" banner, which is noise in test output.
tf.env().set('IS_TEST', true);

beforeAll(async () => {
  await tf.setBackend('cpu');
  await tf.ready();
});
