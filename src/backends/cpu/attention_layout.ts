/**
 * Turns the kernel inputs of ScaledDotProductAttention(Grad) into
 * per-(batch, head) views for the portable attention routines.
 */
import type {NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {SdpaAttrs} from '../../op_table';
import {broadcastStrides, HeadProblem, MatrixView} from '../../portable/attention_views';
import {CpuBackend, floatValues, typedValues} from './cpu_backend';

export interface AttentionLayout {
  batch: number; heads: number; kvHeads: number;
  querySeq: number; keySeq: number; depth: number; valueDepth: number;
  /** Mask strides over [B, H, Sq, Sk]. */
  maskStrides: number[] | null;
  maskShape: number[] | null;
  q: Float32Array; k: Float32Array; v: Float32Array;
  maskValues: Float32Array | Uint8Array | null;
  keyPadding: ArrayLike<number> | null;
}

export function readAttentionLayout(
    backend: CpuBackend, inputs: NamedTensorInfoMap, attrs: SdpaAttrs): AttentionLayout {
  const q = inputs.q as TensorInfo, k = inputs.k as TensorInfo, v = inputs.v as TensorInfo;
  const [batch, heads, querySeq, depth] = q.shape;
  const [, kvHeads, keySeq] = k.shape;
  const valueDepth = v.shape[3];
  let maskValues: Float32Array | Uint8Array | null = null;
  let maskStrides: number[] | null = null;
  let maskShape: number[] | null = null;
  if (attrs.maskKind !== 'none') {
    const mask = inputs.attnMask as TensorInfo;
    const values = typedValues(backend, mask);
    if (values instanceof Int32Array) throw new Error('tfjs-better-transformer: attnMask must be bool or float32');
    maskValues = values;
    maskShape = mask.shape;
    maskStrides = broadcastStrides(mask.shape, [batch, heads, querySeq, keySeq]);
  }
  const keyPadding = attrs.hasKeyPaddingMask ? typedValues(backend, inputs.keyPaddingMask as TensorInfo) : null;
  return {
    batch, heads, kvHeads, querySeq, keySeq, depth, valueDepth, maskStrides, maskShape,
    q: floatValues(backend, q), k: floatValues(backend, k), v: floatValues(backend, v), maskValues, keyPadding,
  };
}

/** The problem description of head (b, h): masks offset to that head. */
export function headProblem(layout: AttentionLayout, attrs: SdpaAttrs, b: number, h: number): HeadProblem {
  const {maskStrides, maskValues} = layout;
  return {
    querySeq: layout.querySeq, keySeq: layout.keySeq, depth: layout.depth, valueDepth: layout.valueDepth,
    scale: attrs.scale,
    causalShift: attrs.isCausal ? layout.keySeq - layout.querySeq : null,
    mask: maskValues === null || maskStrides === null ? null : {
      kind: attrs.maskKind === 'bool' ? 'bool' : 'additive',
      values: maskValues,
      offset: b * maskStrides[0] + h * maskStrides[1],
      rowStride: maskStrides[2],
      colStride: maskStrides[3],
    },
    keyValidity: layout.keyPadding === null ? null : {values: layout.keyPadding, offset: b * layout.keySeq},
  };
}

/** Contiguous [rows, cols] matrix number `index` inside a flat array. */
export function matrixAt(values: Float32Array, index: number, rows: number, cols: number): MatrixView {
  return {values, offset: index * rows * cols, rowStride: cols};
}
