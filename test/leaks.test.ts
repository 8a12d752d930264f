/** No tensor leaks: tf.memory().numTensors is unchanged after repeated calls, forward and backward. */
import * as tf from '@tensorflow/tfjs-core';
import {
  scaledDotProductAttention, setKernelPreference, transformerEncoderLayer, TransformerEncoderLayerWeights,
} from '../src';
import {randomEncoderWeights} from './helpers/encoder_weights';
import {paddingMask, randn} from './helpers/random';

function expectNoLeak(label: string, body: () => void): void {
  body();  // warm-up: lazily created state (e.g. gradient registration) is not a leak
  const before = tf.memory().numTensors;
  for (let i = 0; i < 100; i++) tf.tidy(body);
  expect({label, numTensors: tf.memory().numTensors}).toEqual({label, numTensors: before});
}

describe.each(['auto', 'composite'] as const)('no leaks (%s)', preference => {
  beforeAll(() => {
    require('@tensorflow/tfjs-layers');  // core op gradients, for the composite backward
    setKernelPreference(preference);
  });
  afterAll(() => setKernelPreference('auto'));

  const q = randn([2, 4, 6, 8], 1) as tf.Tensor4D, k = randn([2, 2, 7, 8], 2) as tf.Tensor4D;
  const v = randn([2, 2, 7, 8], 3) as tf.Tensor4D;
  const attnMask = randn([6, 7], 4), keyPaddingMask = paddingMask([7, 3], 7);
  const w = randomEncoderWeights(8, 16, 5, true) as unknown as TransformerEncoderLayerWeights;
  const x = randn([2, 7, 8], 6) as tf.Tensor3D;

  it('in scaledDotProductAttention with every option', () => {
    expectNoLeak('sdpa', () => {
      scaledDotProductAttention(q, k, v);
      scaledDotProductAttention(q, k, v, {attnMask, keyPaddingMask, isCausal: true});
    });
  });
  it('in transformerEncoderLayer with padding', () => {
    expectNoLeak('encoder', () => {
      transformerEncoderLayer(x, w, {numHeads: 2, keyPaddingMask});
    });
  });
  it('in gradients of both ops', () => {
    expectNoLeak('grads', () => {
      tf.grads((a: tf.Tensor, b: tf.Tensor, m: tf.Tensor) => tf.sum(scaledDotProductAttention(
          a as tf.Tensor4D, b as tf.Tensor4D, v, {attnMask: m, keyPaddingMask})))([q, k, attnMask]);
      tf.grad(a => tf.sum(transformerEncoderLayer(a as tf.Tensor3D, w, {numHeads: 2, keyPaddingMask})))(x);
    });
  });
  it('when results are disposed by hand instead of tidy', () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) {
      scaledDotProductAttention(q, k, v, {keyPaddingMask}).dispose();
      transformerEncoderLayer(x, w, {numHeads: 2}).dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
