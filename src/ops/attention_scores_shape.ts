/**
 * The shape [..., Sq, Sk] the scores q·kᵀ would have: what shape arithmetic
 * left in a rewritten graph reads once the fused attention no longer
 * materialises the scores. Computed from the shapes alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import {runOpResult} from '../dispatch/dispatch';
import {fail, describeShape, requireTensor} from './validate';

const OP = 'attentionScoresShape';

export function attentionScoresShape(q: tf.Tensor, k: tf.Tensor): tf.Tensor1D {
  const qt = requireTensor(OP, 'q', q);
  const kt = requireTensor(OP, 'k', k);
  if (qt.rank < 2 || kt.rank < 2) {
    fail(OP, `q and k must have rank at least 2 ([..., S, D]), got ${describeShape(qt.shape)} and ${describeShape(kt.shape)}`);
  }
  return runOpResult<tf.Tensor1D>('AttentionScoresShape', {q: qt, k: kt}, {});
}
