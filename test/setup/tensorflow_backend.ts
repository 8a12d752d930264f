// The backend-agnostic suites, run on tfjs-node's `tensorflow` backend. TFJS_BT_TEST_NODE_PACKAGE=
// @tensorflow/tfjs-node-gpu runs them on tfjs-node-gpu instead (tools/setup-tfjs-node-gpu.sh; jest.config.js).
process.env.TF_CPP_MIN_LOG_LEVEL = process.env.TF_CPP_MIN_LOG_LEVEL ?? '2';
import * as tf from '@tensorflow/tfjs-core';
import {TFJS_NODE_PACKAGE} from '../helpers/tfjs_node_package';

// Before any suite imports the package: its op library joins the libtensorflow loaded here.
require(TFJS_NODE_PACKAGE);

beforeAll(async () => {
  await tf.setBackend('tensorflow');
  await tf.ready();
  if (tf.getBackend() !== 'tensorflow') throw new Error(`the tensorflow backend (${TFJS_NODE_PACKAGE}) did not initialise`);
  // tfjs-node's backend records which of the two packages created it.
  const gpuPackage = (tf.backend() as {isGPUPackage?: boolean}).isGPUPackage === true;
  if (gpuPackage !== (TFJS_NODE_PACKAGE === '@tensorflow/tfjs-node-gpu')) {
    throw new Error(`the tensorflow backend is ${gpuPackage ? '' : 'not '}tfjs-node-gpu's, expected ${TFJS_NODE_PACKAGE}'s`);
  }
});
