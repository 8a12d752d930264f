/**
 * The package the `tensorflow` jest project runs on: @tensorflow/tfjs-node, or the one named by
 * TFJS_BT_TEST_NODE_PACKAGE (@tensorflow/tfjs-node-gpu, set up by tools/setup-tfjs-node-gpu.sh).
 * jest.config.js checks the name.
 */
export const TFJS_NODE_PACKAGE = process.env.TFJS_BT_TEST_NODE_PACKAGE || '@tensorflow/tfjs-node';
