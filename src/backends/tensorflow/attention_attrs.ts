/**
 * The TensorFlow attributes of the attention ops (forward and backward take the same; the backward's
 * come from the forward call, its precision included).
 */
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {SdpaAttrs} from '../../op_table';
import {NodeBackend, OpAttrs, TfeOpAttr} from './node_backend';
import {gpuPrecisionAttr} from './precision_attr';

export function attentionOpAttrs(backend: NodeBackend, a: SdpaAttrs, mask: TensorInfo, padding: TensorInfo): TfeOpAttr[] {
  return new OpAttrs(backend)
      .dtype('Tmask', mask.dtype).dtype('Tpad', padding.dtype)
      .float('scale', a.scale).bool('is_causal', a.isCausal)
      .string('mask_kind', a.maskKind).bool('has_key_padding_mask', a.hasKeyPaddingMask)
      .string('precision', gpuPrecisionAttr(a))
      .build();
}
