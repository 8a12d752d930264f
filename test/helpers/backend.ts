/** What the suites expect of the backend they run on (cpu or tensorflow; see jest.config.js). */
import * as tf from '@tensorflow/tfjs-core';
import {Implementation} from '../../src';

/** The implementation the ops should use on the active backend with the default preference. */
export function expectedFusedImplementation(): Implementation {
  return tf.getBackend() === 'cpu' ? 'portable-typescript' : 'tensorflow-op-library';
}
