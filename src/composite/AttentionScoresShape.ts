/** AttentionScoresShape: [...q.shape without its last axis, Sk], from the shapes alone (no data is read). */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';

export const compositeAttentionScoresShape: CompositeFunc = inputs => {
  const {q, k} = inputs;
  return tf.tensor1d([...q.shape.slice(0, -1), k.shape[k.rank - 2]], 'int32');
};
