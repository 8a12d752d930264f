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

  it('refuses malformed inputs to the graph ops by name, an index out of range included', () => {
    const nb = asNodeBackend(tf.backend());
    tf.tidy(() => {
      const sum = (inputs: tf.Tensor[], lookups: boolean[], hasNorm = false, epsilon = 1e-5) =>
          () => nb.executeSingleOutput('BtEmbeddingSum', new OpAttrs(nb).int('N', lookups.length).bools('lookups', lookups)
                                           .bool('has_norm', hasNorm).float('epsilon', epsilon).build(), inputs);
      const none = tf.zeros([0]), noIds = tf.zeros([0], 'int32'), table = tf.ones([3, 4]);
      const ids = (...v: number[]) => tf.tensor1d(v, 'int32');
      expect(sum([none, none, table, ids(0, 3)], [true])).toThrow(/term 0: index 3 \(indices\[1\]\) is outside the table's 3 rows/);
      expect(sum([none, none, table, ids(-1)], [true])).toThrow(/index -1/);
      expect(sum([none, none, tf.ones([0, 4]), ids(0)], [true])).toThrow(/outside the table's 0 rows/);
      expect(sum([none, none, tf.ones([4]), ids(0)], [true])).toThrow(/rank 2/);
      expect(sum([none, none, table, tf.ones([2, 4]), ids(0, 1, 2), noIds], [true, false])).toThrow(/do not broadcast/);
      expect(sum([none, none, table, tf.ones([3, 5]), ids(0), ids(1)], [true, true])).toThrow(/same width W = 4/);
      expect(sum([tf.ones([3]), tf.ones([4]), table, ids(0)], [true], true)).toThrow(/gamma must have shape \[4\]/);
      expect(sum([none, none, table, noIds], [false])).toThrow(/at least one lookup/);
      expect(sum([none, none, table, ids(0)], [true], true, -1)).toThrow(/epsilon must be finite and non-negative/);
      const norm = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) =>
          () => nb.executeSingleOutput('BtLayerNorm', new OpAttrs(nb).float('epsilon', 1e-5).build(), [x, gamma, beta]);
      expect(norm(tf.scalar(1), tf.ones([1]), tf.ones([1]))).toThrow(/at least one axis/);
      expect(norm(tf.ones([2, 4]), tf.ones([3]), tf.ones([4]))).toThrow(/gamma must have shape \[4\]/);
      expect(norm(tf.ones([2, 4]), tf.ones([4]), tf.ones([4, 1]))).toThrow(/beta must have shape \[4\]/);
      // Still alive and correct afterwards: rows 2 and 0 of [[0..3], [4..7], [8..11]] plus a [4] constant.
      const values = tf.tensor2d([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]);
      const got = nb.executeSingleOutput('BtEmbeddingSum', new OpAttrs(nb).int('N', 2).bools('lookups', [true, false])
                                             .bool('has_norm', false).float('epsilon', 0).build(),
                                         [none, none, values, tf.tensor1d([1, 1, 1, 1]), ids(2, 0), noIds]);
      expect(got.shape).toEqual([2, 4]);
      expect(Array.from(got.dataSync())).toEqual([9, 10, 11, 12, 1, 2, 3, 4]);
    });
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
