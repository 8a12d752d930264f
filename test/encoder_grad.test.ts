/** Gradients through the fused encoder layer (recomputed as the composite) against the oracle's. */
import * as tf from '@tensorflow/tfjs-core';
import {transformerEncoderLayer, TransformerEncoderLayerWeights} from '../src';
import {randomEncoderWeights} from './helpers/encoder_weights';
import {paddingMask, randn} from './helpers/random';
import {closeness, gradTolerance} from './helpers/tolerance';
import {referenceEncoderLayer} from './reference/encoder_reference';

describe('transformerEncoderLayer gradients', () => {
  it('register tfjs core op gradients on first use (tfjs-core alone has none)', () => {
    // tfjs-node (the `tensorflow` suites) imports the union package, which registers them up front.
    if (tf.getBackend() === 'cpu') expect(tf.getGradient('Sum')).toBeUndefined();
    tf.tidy(() => {
      const w = randomEncoderWeights(4, 8, 1, true) as unknown as TransformerEncoderLayerWeights;
      // The layer is the whole function, so only our gradient needs core op gradients.
      const [g] = tf.grads(x => transformerEncoderLayer(x as tf.Tensor3D, w, {numHeads: 2}))(
          [randn([1, 3, 4], 1)], randn([1, 3, 4], 2));
      expect(g.shape).toEqual([1, 3, 4]);
      expect(Array.from(g.dataSync()).every(Number.isFinite)).toBe(true);
    });
    expect(tf.getGradient('Sum')).toBeDefined();
  });

});

describe('transformerEncoderLayer gradients vs the reference', () => {
  // The oracle's loss uses core ops directly, as any training code would.
  beforeAll(() => require('@tensorflow/tfjs-layers'));

  it.each([
    {normFirst: false, packed: true, activation: 'gelu' as const, isCausal: false},
    {normFirst: true, packed: false, activation: 'gelu_tanh' as const, isCausal: true},
    {normFirst: false, packed: false, activation: 'relu' as const, isCausal: false},
  ])('match the reference for %j with padding', cfg => {
    tf.tidy(() => {
      const x = randn([3, 6, 12], 1);
      const w = randomEncoderWeights(12, 20, 2, cfg.packed);
      const keyPaddingMask = paddingMask([6, 3, 0], 6);
      const names = Object.keys(w).sort();
      const probe = randn([3, 6, 12], 3);
      const loss = (layer: (x: tf.Tensor, w: Record<string, tf.Tensor>) => tf.Tensor) =>
          (...xs: tf.Tensor[]) => {
            const weights: Record<string, tf.Tensor> = {};
            names.forEach((n, i) => weights[n] = xs[i + 1]);
            return tf.sum(tf.mul(layer(xs[0], weights), probe));
          };
      const options = {numHeads: 3, normFirst: cfg.normFirst, activation: cfg.activation, isCausal: cfg.isCausal};
      const fusedGrads = tf.grads(loss((xx, ww) => transformerEncoderLayer(
          xx as tf.Tensor3D, ww as unknown as TransformerEncoderLayerWeights,
          {...options, keyPaddingMask, layerNormEps: 1e-5})))([x, ...names.map(n => w[n])]);
      const refGrads = tf.grads(loss((xx, ww) => referenceEncoderLayer(
          xx, ww, {...options, keyPaddingMask, eps: [1e-5, 1e-5]})))([x, ...names.map(n => w[n])]);
      ['x', ...names].forEach((name, i) => {
        const result = closeness(fusedGrads[i].dataSync(), refGrads[i].dataSync(), gradTolerance(3 * 6));
        if (!result.ok) throw new Error(`d${name}: ${result.detail}`);
      });
    });
  });
});
