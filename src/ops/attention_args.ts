/**
 * Validation and normalisation of scaledDotProductAttention's arguments. The
 * result is what every implementation (fused kernel or composite) consumes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GpuPrecision} from '../config';
import {AttnMaskKind, SdpaAttrs} from '../op_table';
import {
  describeShape, describeValue, fail, requireBoolean, requireBroadcastable, requireFiniteNumber,
  requireElementCount, requireFloat32, requireKnownKeys, requirePaddingMask, requireRank, requireTensor,
  resolveGpuPrecision,
} from './validate';

export interface ScaledDotProductAttentionOptions {
  /**
   * Broadcastable to [B, H, Sq, Sk]. dtype `bool`: true = may attend.
   * dtype `float32`: added to the scaled scores (use -Infinity to mask).
   */
  attnMask?: tf.Tensor;
  /** [B, Sk], Hugging Face convention: 1 (or true) = real token, 0 = padding. int32, bool or float32. */
  keyPaddingMask?: tf.Tensor;
  /** Bottom-right aligned causal mask: query i sees key j iff j <= i + (Sk - Sq). */
  isCausal?: boolean;
  /** Multiplies q·k. Default 1/sqrt(D). */
  scale?: number;
  /**
   * The GPU kernel's matrix products (tfjs-node-gpu): 'highest' (FP32), 'high' (TF32 tensor cores)
   * or 'medium' (bfloat16 tensor cores), FP32 accumulation at each. Default: getGpuPrecision() at
   * the call. The CPU kernels and the composite compute in float32 and ignore it. The gradient
   * uses the forward call's precision.
   */
  precision?: GpuPrecision;
}

const OPTION_KEYS = ['attnMask', 'keyPaddingMask', 'isCausal', 'scale', 'precision'] as const;

export interface AttentionDims {
  batch: number; heads: number; kvHeads: number;
  querySeq: number; keySeq: number; depth: number; valueDepth: number;
}

export interface AttentionArgs {
  q: tf.Tensor4D; k: tf.Tensor4D; v: tf.Tensor4D;
  attnMask: tf.Tensor | null;
  keyPaddingMask: tf.Tensor | null;
  dims: AttentionDims;
  attrs: SdpaAttrs;
}

export function validateAttentionArgs(
    op: string, q: unknown, k: unknown, v: unknown, options: unknown): AttentionArgs {
  if (options == null) options = {};
  if (typeof options !== 'object' || Array.isArray(options)) {
    fail(op, `options must be an object, got ${describeValue(options)}`);
  }
  const opts = options as ScaledDotProductAttentionOptions;
  requireKnownKeys(op, 'option', opts, OPTION_KEYS);

  const qt = requireTensor(op, 'q', q);
  const kt = requireTensor(op, 'k', k);
  const vt = requireTensor(op, 'v', v);
  requireRank(op, 'q', qt, 4, '[B, H, Sq, D]');
  requireRank(op, 'k', kt, 4, '[B, Hkv, Sk, D]');
  requireRank(op, 'v', vt, 4, '[B, Hkv, Sk, Dv]');
  requireFloat32(op, 'q', qt);
  requireFloat32(op, 'k', kt);
  requireFloat32(op, 'v', vt);

  const [batch, heads, querySeq, depth] = qt.shape;
  const [kBatch, kvHeads, keySeq, kDepth] = kt.shape;
  const [vBatch, vHeads, vSeq, valueDepth] = vt.shape;
  const shapes = `q ${describeShape(qt.shape)}, k ${describeShape(kt.shape)}, v ${describeShape(vt.shape)}`;
  if (kBatch !== batch || vBatch !== batch) fail(op, `batch sizes differ: ${shapes}`);
  if (kDepth !== depth) fail(op, `q and k must have the same head dimension D: ${shapes}`);
  if (vHeads !== kvHeads || vSeq !== keySeq) {
    fail(op, `k and v must agree on Hkv and Sk: ${shapes}`);
  }
  if (heads < 1 || kvHeads < 1) fail(op, `H and Hkv must be at least 1: ${shapes}`);
  if (heads % kvHeads !== 0) {
    fail(op, `the number of query heads H = ${heads} must be a multiple of the number of key/value heads Hkv = ${
        kvHeads}: ${shapes}`);
  }
  if (depth < 1) fail(op, `head dimension D must be at least 1: ${shapes}`);

  requireElementCount(op, 'the result', [batch, heads, querySeq, valueDepth], 'B*H*Sq*Dv');

  const scale = opts.scale === undefined ? 1 / Math.sqrt(depth) : requireFiniteNumber(op, 'options.scale', opts.scale);
  const isCausal = opts.isCausal === undefined ? false : requireBoolean(op, 'options.isCausal', opts.isCausal);
  const precision = resolveGpuPrecision(op, opts.precision);

  let attnMask: tf.Tensor | null = null;
  let maskKind: AttnMaskKind = 'none';
  if (opts.attnMask != null) {
    attnMask = requireTensor(op, 'options.attnMask', opts.attnMask);
    if (attnMask.dtype === 'bool') {
      maskKind = 'bool';
    } else if (attnMask.dtype === 'float32') {
      maskKind = 'additive';
    } else {
      fail(op, `options.attnMask must have dtype bool (true = attend) or float32 (added to scores), got ${
          attnMask.dtype}`);
    }
    requireBroadcastable(op, 'options.attnMask', attnMask.shape, [batch, heads, querySeq, keySeq], '[B, H, Sq, Sk]');
  }

  const keyPaddingMask = opts.keyPaddingMask == null ? null :
      requirePaddingMask(op, 'options.keyPaddingMask', opts.keyPaddingMask, [batch, keySeq], '[B, Sk]');

  return {
    q: qt as tf.Tensor4D, k: kt as tf.Tensor4D, v: vt as tf.Tensor4D, attnMask, keyPaddingMask,
    dims: {batch, heads, kvHeads, querySeq, keySeq, depth, valueDepth},
    attrs: {scale, isCausal, maskKind, hasKeyPaddingMask: keyPaddingMask != null, precision},
  };
}
