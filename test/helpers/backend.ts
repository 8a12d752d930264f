/** What the suites expect of the backend they run on (see jest.config.js for the projects). */
import * as tf from '@tensorflow/tfjs-core';
import {Implementation, nativeCoreFailure} from '../../src';

/** The implementation the ops should use on the active backend with the default preference. */
export function expectedFusedImplementation(): Implementation {
  if (tf.getBackend() === 'tensorflow') return 'tensorflow-op-library';
  return nativeCoreFailure() === null ? 'native-cpu' : 'portable-typescript';
}

/** The implementation of an op whose only fused kernel is the portable `cpu` one (relativePositionBias). */
export function expectedPortableImplementation(): Implementation {
  return tf.getBackend() === 'cpu' ? 'portable-typescript' : 'composite-tfjs-ops';
}

/** The graph ops with a portable `cpu` kernel and the op library's (layerNorm, embeddingSum). */
export function expectedGraphOpImplementation(): Implementation {
  if (tf.getBackend() === 'tensorflow') return 'tensorflow-op-library';
  return expectedPortableImplementation();
}
