/** Gradients through the fused encoder layer (recomputed as the composite) against the oracle's. */
import * as tf from '@tensorflow/tfjs-core';
import {transformerEncoderLayer, TransformerEncoderLayerWeights} from '../src';
import {caseAttentionBias, randomEncoderWeights, randomEncoderWeightsOf} from './helpers/encoder_weights';
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

describe('transformerEncoderLayer T5-class gradients vs the reference', () => {
  beforeAll(() => require('@tensorflow/tfjs-layers'));

  it.each([
    {normKind: 'rms' as const, gated: true, biases: false, attentionBias: 'shared' as const, normFirst: true, isCausal: false},
    {normKind: 'rms' as const, gated: false, biases: true, attentionBias: 'perBatch' as const, normFirst: false, isCausal: true},
    {normKind: 'layer' as const, gated: true, biases: false, attentionBias: 'none' as const, normFirst: true, isCausal: false},
  ])('match the reference for x, the weights and the attention bias: %j', cfg => {
    tf.tidy(() => {
      const [batch, seq, heads, embed] = [3, 6, 3, 12];
      const x = randn([batch, seq, embed], 1);
      const w = randomEncoderWeightsOf(embed, 20, 2, {packed: !cfg.gated, gated: cfg.gated, biases: cfg.biases,
                                                       rms: cfg.normKind === 'rms'});
      const bias = caseAttentionBias(cfg.attentionBias, batch, heads, seq, 3);
      const keyPaddingMask = paddingMask([6, 4, 0], seq, 'int32', 'left');
      const names = Object.keys(w).sort();
      const probe = randn([batch, seq, embed], 3);
      const leading = bias ? [x, bias] : [x];
      const loss = (layer: (x: tf.Tensor, w: Record<string, tf.Tensor>, b?: tf.Tensor) => tf.Tensor) =>
          (...xs: tf.Tensor[]) => {
            const weights: Record<string, tf.Tensor> = {};
            names.forEach((n, i) => weights[n] = xs[i + leading.length]);
            return tf.sum(tf.mul(layer(xs[0], weights, bias ? xs[1] : undefined), probe));
          };
      const options = {numHeads: heads, normFirst: cfg.normFirst, activation: 'gelu_tanh' as const, isCausal: cfg.isCausal,
                       normKind: cfg.normKind, scale: 1};
      const inputs = [...leading, ...names.map(n => w[n])];
      const fusedGrads = tf.grads(loss((xx, ww, b) => transformerEncoderLayer(
          xx as tf.Tensor3D, ww as unknown as TransformerEncoderLayerWeights,
          {...options, keyPaddingMask, layerNormEps: 1e-5, attentionBias: b as tf.Tensor4D | undefined})))(inputs);
      const refGrads = tf.grads(loss((xx, ww, b) => referenceEncoderLayer(
          xx, ww, {...options, keyPaddingMask, eps: [1e-5, 1e-5], attentionBias: b})))(inputs);
      [...(bias ? ['x', 'attentionBias'] : ['x']), ...names].forEach((name, i) => {
        expect(fusedGrads[i].shape).toEqual(inputs[i].shape);
        const result = closeness(fusedGrads[i].dataSync(), refGrads[i].dataSync(), gradTolerance(3 * 6));
        if (!result.ok) throw new Error(`d${name}: ${result.detail}`);
      });
    });
  });
});
