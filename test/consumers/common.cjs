// Shared by the consumer scripts: a fixed attention problem and the printed report.
'use strict';
exports.run = async (tf, plugin) => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  const q = tf.tensor4d([0.1, 0.2, 0.3, 0.4, -0.5, 0.6], [1, 1, 3, 2]);
  const k = tf.tensor4d([1, 0, 0, 1, 1, 1], [1, 1, 3, 2]);
  const v = tf.tensor4d([1, 2, 3, 4, 5, 6], [1, 1, 3, 2]);
  const out = plugin.scaledDotProductAttention(q, k, v, {isCausal: true});
  process.stdout.write(JSON.stringify({
    implementation: plugin.activeImplementations().scaledDotProductAttention,
    kernelRegistered: tf.getKernel(plugin.opNames('ScaledDotProductAttention').kernel, 'cpu') != null,
    values: Array.from(out.dataSync()),
  }));
};
