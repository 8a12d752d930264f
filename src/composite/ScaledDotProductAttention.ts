/**
 * ScaledDotProductAttention as a composite of plain tfjs ops. It runs on any
 * backend that has no fused kernel, and tfjs differentiates it on its own. It
 * materialises the [B, H, Sq, Sk] scores, which is exactly what the fused
 * kernels avoid.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {CompositeFunc} from '../dispatch/composite_registry';
import {SdpaAttrs} from '../op_table';
import {connectedZeros} from './connected_zeros';
import {detach} from './detach';

/** [B, Hkv, S, X] -> [B, Hkv*group, S, X]: query head h reads kv head floor(h / group). */
export function repeatKvHeads(x: tf.Tensor, group: number): tf.Tensor {
  if (group === 1) return x;
  const [b, hkv, s, d] = x.shape as number[];
  // Rank-4 tile: tfjs has no gradient for tiling rank-5 tensors.
  const rows = tf.reshape(x, [b, hkv, 1, s * d]);
  return tf.reshape(tf.tile(rows, [1, 1, group, 1]), [b, hkv * group, s, d]);
}

/** Bottom-right aligned causal band [Sq, Sk]: true where key j <= i + (Sk - Sq). */
export function causalBand(querySeq: number, keySeq: number): tf.Tensor {
  const rows = tf.reshape(tf.range(keySeq - querySeq, keySeq, 1, 'int32'), [querySeq, 1]);
  const cols = tf.reshape(tf.range(0, keySeq, 1, 'int32'), [1, keySeq]);
  return tf.lessEqual(cols, rows);
}

/** The boolean "may attend" mask implied by every mask input, or null when all keys are visible. */
function visibility(inputs: tf.NamedTensorMap, a: SdpaAttrs, batch: number, querySeq: number,
    keySeq: number): tf.Tensor | null {
  const parts: tf.Tensor[] = [];
  if (a.maskKind === 'bool') parts.push(inputs.attnMask);
  if (a.hasKeyPaddingMask) {
    const mask = inputs.keyPaddingMask;
    const real = tf.notEqual(mask, tf.scalar(0, mask.dtype));
    parts.push(tf.reshape(real, [batch, 1, 1, keySeq]));
  }
  if (a.isCausal) parts.push(causalBand(querySeq, keySeq));
  return parts.length === 0 ? null : parts.reduce((x, y) => tf.logicalAnd(x, y));
}

export const compositeScaledDotProductAttention: CompositeFunc = (inputs, attrs) => {
  const a = attrs as SdpaAttrs;
  return tf.tidy(() => {
    const {q} = inputs;
    const [batch, heads, querySeq] = q.shape as number[];
    const [, kvHeads, keySeq] = inputs.k.shape as number[];
    const valueDepth = (inputs.v.shape as number[])[3];
    if (batch * heads * querySeq * valueDepth === 0 || keySeq === 0) {
      const differentiable = [q, inputs.k, inputs.v, ...(a.maskKind === 'additive' ? [inputs.attnMask] : [])];
      return connectedZeros([batch, heads, querySeq, valueDepth], differentiable);
    }
    const group = heads / kvHeads;
    let {k, v} = inputs;
    if (a.hasKeyPaddingMask) {
      // Padded keys are never read: whatever their k and v hold (NaN included) changes nothing.
      const mask = inputs.keyPaddingMask;
      const real = tf.reshape(tf.notEqual(mask, tf.scalar(0, mask.dtype)), [batch, 1, keySeq, 1]);
      k = tf.where(real, k, tf.zerosLike(k));
      v = tf.where(real, v, tf.zerosLike(v));
    }
    let scores = tf.mul(tf.matMul(q, repeatKvHeads(k, group), false, true), tf.scalar(a.scale));
    if (a.maskKind === 'additive') scores = tf.add(scores, inputs.attnMask);
    const visible = visibility(inputs, a, batch, querySeq, keySeq);
    if (visible) scores = tf.where(visible, scores, tf.scalar(-Infinity));
    // A row with no visible key would be softmax(-inf...) = NaN; the
    // documented result is zeros, and its gradient must be zero too, so such
    // rows are neutralised before the softmax, not after.
    const rowHasKey = tf.notEqual(detach(tf.max(scores, -1, true)), tf.scalar(-Infinity));
    const probs = tf.softmax(tf.where(rowHasKey, scores, tf.zerosLike(scores)));
    const out = tf.matMul(probs, repeatKvHeads(v, group));
    return tf.where(rowHasKey, out, tf.zerosLike(out));
  });
};
