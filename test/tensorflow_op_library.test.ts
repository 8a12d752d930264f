/**
 * The TensorFlow op library behind the `tensorflow` backend kernels: it is
 * loaded and used, its kernels reject malformed inputs with errors (never a
 * crash), and without it the ops fall back to composite tfjs ops and say why.
 * (Runs in the `tensorflow` jest project only.)
 */
import {execFileSync} from 'child_process';
import * as tf from '@tensorflow/tfjs-core';
import {activeImplementations, scaledDotProductAttention, tensorflowOpLibraryStatus} from '../src';
import {asNodeBackend, OpAttrs} from '../src/backends/tensorflow/node_backend';
import {TFJS_NODE_PACKAGE} from './helpers/tfjs_node_package';

describe('TensorFlow op library', () => {
  it('is loaded and used by both ops', () => {
    const status = tensorflowOpLibraryStatus();
    expect(status.error).toBeNull();
    expect(status.loaded).toBe(true);
    expect(activeImplementations('tensorflow')).toMatchObject({
      scaledDotProductAttention: 'tensorflow-op-library', transformerEncoderLayer: 'tensorflow-op-library', reason: null,
    });
  });

  it('rejects malformed inputs passed straight to the TensorFlow op', () => {
    const nb = asNodeBackend(tf.backend());
    const run = (q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, mask: tf.Tensor, pad: tf.Tensor, kind = 'none',
                 hasPad = false) =>
        () => nb.executeMultipleOutputs('BtScaledDotProductAttention',
                                        new OpAttrs(nb).dtype('Tmask', mask.dtype).dtype('Tpad', pad.dtype)
                                            .float('scale', 1).bool('is_causal', false).string('mask_kind', kind)
                                            .bool('has_key_padding_mask', hasPad).build(),
                                        [q, k, v, mask, pad], 2);
    const ok = tf.zeros([1, 2, 3, 4]), none = tf.zeros([0]);
    expect(run(tf.zeros([2, 3, 4]), ok, ok, none, none)).toThrow(/rank 4/);
    expect(run(ok, tf.zeros([1, 2, 5, 3]), ok, none, none)).toThrow(/do not agree/);
    expect(run(ok, ok, ok, tf.zeros([7, 7]), none, 'additive')).toThrow(/does not broadcast/);
    expect(run(ok, ok, ok, tf.zeros([3, 3]), none, 'bool')).toThrow(/dtype does not match/);
    expect(run(ok, ok, ok, none, tf.zeros([2, 3], 'int32'), 'none', true)).toThrow(/key_padding_mask must have shape \[1, 3\]/);
    expect(run(ok, ok, ok, none, none, 'sometimes')).toThrow(/mask_kind must be/);
    // Still alive and correct afterwards.
    expect(scaledDotProductAttention(ok as tf.Tensor4D, ok as tf.Tensor4D, tf.ones([1, 2, 3, 4]) as tf.Tensor4D)
               .dataSync().every(x => x === 1)).toBe(true);
  });

  it('falls back to composite ops, and says why, when the library cannot load', () => {
    const script = `
      require('${TFJS_NODE_PACKAGE}');
      const tf = require('@tensorflow/tfjs-core');
      const bt = require('${require.resolve('../dist/index.js').replace(/\\/g, '/')}');
      const q = tf.ones([1, 1, 2, 4]);
      const out = bt.scaledDotProductAttention(q, q, q);
      process.stdout.write(JSON.stringify({impl: bt.activeImplementations(), sum: out.sum().dataSync()[0]}));`;
    const out = execFileSync(process.execPath, ['-e', script], {
      encoding: 'utf8', env: {...process.env, TFJS_BT_TENSORFLOW_OPS: '/nonexistent/bt_tensorflow_ops.node',
                              TF_CPP_MIN_LOG_LEVEL: '3'},
    });
    const report = JSON.parse(out);
    expect(report.impl.scaledDotProductAttention).toBe('composite-tfjs-ops');
    expect(report.impl.reason).toMatch(/bt_tensorflow_ops.node: not built/);
    expect(report.sum).toBeCloseTo(8, 5);
  });
});
