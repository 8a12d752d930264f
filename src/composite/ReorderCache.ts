/**
 * ReorderCache as plain tfjs ops (backends without the fused kernel): the
 * caches' and lengths' batch rows gathered at sourceRows. tfjs tensors are
 * immutable here, so the result is new tensors holding whole rows (the fused
 * `cpu` kernel moves only each row's used positions, in place).
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';

export const compositeReorderCache: CompositeFunc = inputs => tf.tidy(() => [
  tf.gather(inputs.keyCache, inputs.sourceRows, 1),
  tf.gather(inputs.valueCache, inputs.sourceRows, 1),
  tf.gather(inputs.lengths, inputs.sourceRows),
]);
