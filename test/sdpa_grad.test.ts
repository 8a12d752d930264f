/**
 * Gradients of scaledDotProductAttention: the fused recompute-based backward
 * against tfjs's autodiff of the plain-ops oracle, then training end to end.
 */
import * as fc from 'fast-check';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {opNames, scaledDotProductAttention, setKernelPreference} from '../src';
import {AttentionCase, attentionCaseArbitrary} from './helpers/attention_cases';
import {randn} from './helpers/random';
import {checkAttentionGradients, GRADIENT_BASE_CASE} from './helpers/attention_gradients';

const checkGradients = (c: AttentionCase) => checkAttentionGradients(c, scaledDotProductAttention);
const base = GRADIENT_BASE_CASE;

describe('scaledDotProductAttention gradients', () => {
  it('match the reference without masks', () => checkGradients(base));
  it('match with grouped-query heads (dk, dv summed over the group)', () => {
    checkGradients({...base, heads: 12, kvHeads: 3, seed: 4});
    checkGradients({...base, heads: 2, kvHeads: 1, querySeq: 64, keySeq: 129, depth: 32, seed: 5});
  });
  it('match with causal masking and Sq != Sk', () => checkGradients({...base, isCausal: true, querySeq: 9, keySeq: 7}));
  it('match with key padding and fully masked rows', () =>
    checkGradients({...base, keyPadding: 'float32', emptyRows: true, batch: 3}));
  it('match with a boolean mask', () => checkGradients({...base, mask: 'bool', maskShape: 'perBatch', emptyRows: true}));
  it('include the additive mask gradient, reduced to its broadcast shape', () => {
    for (const maskShape of ['full', 'rowsCols', 'perHeadKeys', 'keys', 'perBatch'] as const) {
      checkGradients({...base, mask: 'additive', maskShape, seed: 6});
    }
  });
  it('match on random cases (fast-check)', () => {
    fc.assert(fc.property(attentionCaseArbitrary(300_000), c => checkGradients(c)), {numRuns: 25, seed: 7});
  });

  it('fall back to differentiating the composite when a backend lacks the backward kernel', () => {
    const c = {...base, mask: 'additive' as const, maskShape: 'rowsCols' as const, keyPadding: 'int32' as const};
    const backward = opNames('ScaledDotProductAttentionGrad').kernel;
    const config = tf.getKernel(backward, 'cpu');
    expect(config).toBeDefined();
    tf.unregisterKernel(backward, 'cpu');
    try {
      checkGradients(c);
    } finally {
      tf.registerKernel(config as tf.KernelConfig);
    }
  });

  it('trains a tfjs-layers model through model.fit', async () => {
    /** Single-head self-attention layer on [batch, seq, features] built on the fused op. */
    class SelfAttention extends tfl.layers.Layer {
      static className = 'TestSelfAttention';
      private wq!: tfl.LayerVariable;
      private wk!: tfl.LayerVariable;
      private wv!: tfl.LayerVariable;
      override build(inputShape: tfl.Shape | tfl.Shape[]): void {
        const features = (inputShape as number[])[2];
        this.wq = this.addWeight('wq', [features, features], 'float32', tfl.initializers.glorotUniform({seed: 1}));
        this.wk = this.addWeight('wk', [features, features], 'float32', tfl.initializers.glorotUniform({seed: 2}));
        this.wv = this.addWeight('wv', [features, features], 'float32', tfl.initializers.glorotUniform({seed: 3}));
        super.build(inputShape);
      }
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return tf.tidy(() => {
          const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
          const [b, s, f] = x.shape;
          const project = (w: tfl.LayerVariable) => tf.reshape(tf.matMul(tf.reshape(x, [b * s, f]), w.read()), [b, 1, s, f]);
          const out = scaledDotProductAttention(
              project(this.wq) as tf.Tensor4D, project(this.wk) as tf.Tensor4D, project(this.wv) as tf.Tensor4D,
              {isCausal: true});
          return tf.reshape(out, [b, s, f]);
        });
      }
    }
    const model = tfl.sequential({layers: [new SelfAttention({inputShape: [5, 4]}), tfl.layers.dense({units: 1})]});
    model.compile({optimizer: tf.train.adam(0.05), loss: 'meanSquaredError'});
    const x = randn([16, 5, 4], 30), y = tf.sum(x, -1, true);
    const before = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    const history = await model.fit(x, y, {epochs: 15, batchSize: 8, verbose: 0});
    const after = (model.evaluate(x, y) as tf.Scalar).dataSync()[0];
    expect(history.history.loss.every(l => Number.isFinite(l as number))).toBe(true);
    expect(after).toBeLessThan(before * 0.8);
    tf.dispose([x, y]);
    model.dispose();
  });
});

describe('scaledDotProductAttention gradients on the composite path', () => {
  beforeAll(() => setKernelPreference('composite'));
  afterAll(() => setKernelPreference('auto'));
  it('match the reference with GQA, causal masking, padding and an additive mask', () => {
    checkGradients({...base, heads: 4, kvHeads: 2, isCausal: true, keyPadding: 'int32', emptyRows: true,
                    mask: 'additive', maskShape: 'perHeadKeys', batch: 3});
  });
});
