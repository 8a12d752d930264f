/** EmbeddingSum as tfjs ops: a gather per lookup term, the adds in term order, then the LayerNorm. */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {
  EMBEDDING_SUM_BETA_INPUT, EMBEDDING_SUM_GAMMA_INPUT, EmbeddingSumAttrs, embeddingSumIndicesInput,
  embeddingSumTableInput,
} from '../op_table';
import {layerNormOf} from './LayerNorm';

export const compositeEmbeddingSum: CompositeFunc = (inputs, attrs) => {
  const a = attrs as unknown as EmbeddingSumAttrs;
  return tf.tidy(() => {
    const term = (k: number) => {
      const table = inputs[embeddingSumTableInput(k)];
      return a.lookups[k] ? tf.gather(table, inputs[embeddingSumIndicesInput(k)]) : table;
    };
    let sum = term(0);
    for (let k = 1; k < a.numTerms; k++) sum = tf.add(sum, term(k));
    return a.hasNorm ?
      layerNormOf(sum, inputs[EMBEDDING_SUM_GAMMA_INPUT], inputs[EMBEDDING_SUM_BETA_INPUT], a.epsilon) : sum;
  });
};
