/**
 * The attention mask of Keras' MultiHeadAttention (tf-keras 2.15,
 * `_compute_attention_mask` and `_masked_softmax`), as the additive term both
 * attention paths add to the scaled scores.
 *
 * Keras combines the implicit masks of query ([B, T] -> [B, T, 1]), value and
 * key ([B, S] -> [B, 1, S]), the causal mask (top-left aligned: query i sees key
 * j iff j <= i) and the `attention_mask` argument into one mask, then its
 * Softmax layer adds (1 - mask) * -1e9 to the scores. That constant is part of
 * the semantics: a query row whose keys are all masked gets scores that are all
 * about -1e9, i.e. a uniform average of every value row (in float32, where
 * the scores vanish next to 1e9). The fused op gets the mask as a boolean and
 * those rows are set to that average afterwards (see fusedKerasAttention), so
 * the result does not depend on the precision a kernel adds the term in.
 */
import * as tf from '@tensorflow/tfjs-core';

/** tf-keras' `_large_compatible_negative(float32)`. */
export const KERAS_MASK_NEGATIVE = -1e9;

export interface KerasMaskInputs {
  queryMask: tf.Tensor | null;
  valueMask: tf.Tensor | null;
  keyMask: tf.Tensor | null;
  /** The `attention_mask` argument, [B, T, S] or broadcastable to it. */
  attentionMask: tf.Tensor | null;
  useCausalMask: boolean;
  querySeqLength: number;
  keySeqLength: number;
}

/** [1, T, S], true where query i may see key j (j <= i). */
export function kerasCausalMask(querySeqLength: number, keySeqLength: number): tf.Tensor3D {
  return tf.tidy(() => {
    const rows = tf.reshape(tf.range(0, querySeqLength, 1, 'int32'), [querySeqLength, 1]);
    const cols = tf.reshape(tf.range(0, keySeqLength, 1, 'int32'), [1, keySeqLength]);
    return tf.expandDims(tf.greaterEqual(rows, cols), 0) as tf.Tensor3D;
  });
}

/** Keras' combined mask ([B|1, T|1, S] or the attention_mask as given), or null when nothing is masked. */
export function kerasCombinedMask(inputs: KerasMaskInputs): tf.Tensor | null {
  const noMask = inputs.queryMask == null && inputs.valueMask == null && inputs.keyMask == null &&
      !inputs.useCausalMask && inputs.attentionMask == null;
  if (noMask) return null;
  return tf.tidy((): tf.Tensor => {
    let auto: tf.Tensor | null = null;
    const and = (mask: tf.Tensor) => {
      auto = auto == null ? mask : tf.logicalAnd(auto, mask);
    };
    if (inputs.queryMask != null) and(tf.expandDims(tf.cast(inputs.queryMask, 'bool'), 2));
    if (inputs.valueMask != null) and(tf.expandDims(tf.cast(inputs.valueMask, 'bool'), 1));
    if (inputs.keyMask != null) and(tf.expandDims(tf.cast(inputs.keyMask, 'bool'), 1));
    if (inputs.useCausalMask) and(kerasCausalMask(inputs.querySeqLength, inputs.keySeqLength));
    if (auto == null) return tf.clone(inputs.attentionMask!);
    return inputs.attentionMask == null ? auto : tf.logicalAnd(tf.cast(inputs.attentionMask, 'bool'), auto);
  });
}

/** A mask expanded as Keras expands it (at axis -3) to rank 4, so that it broadcasts over the heads. */
export function expandMaskToScores(mask: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => {
    let out = mask;
    while (out.rank < 4) out = tf.expandDims(out, out.rank - 2);
    return out as tf.Tensor4D;
  });
}

/** (1 - mask) * -1e9, broadcastable to [B, H, T, S] scores. */
export function kerasAdditiveMask(mask: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => expandMaskToScores(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), KERAS_MASK_NEGATIVE)));
}
