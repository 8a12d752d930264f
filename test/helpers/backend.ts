/** What the suites expect of the backend they run on (see jest.config.js for the projects). */
import * as tf from '@tensorflow/tfjs-core';
import {Implementation, nativeCoreFailure} from '../../src';

/** The implementation the ops should use on the active backend with the default preference. */
export function expectedFusedImplementation(): Implementation {
  if (tf.getBackend() === 'tensorflow') return 'tensorflow-op-library';
  return nativeCoreFailure() === null ? 'native-cpu' : 'portable-typescript';
}
