/** FusedScaledDotProductAttention(Grad) on the native core: argument objects for the addon. */
import {SdpaAttrs} from '../../kernel_names';
import {AttentionLayout} from './attention_layout';
import {NativeCore, validityBytes} from './native_addon';

export function nativeAttentionArgs(layout: AttentionLayout, attrs: SdpaAttrs): Record<string, unknown> {
  const strides = layout.maskStrides ?? [0, 0, 0, 0];
  return {
    batch: layout.batch, heads: layout.heads, kvHeads: layout.kvHeads, querySeq: layout.querySeq,
    keySeq: layout.keySeq, depth: layout.depth, valueDepth: layout.valueDepth,
    scale: attrs.scale, causal: attrs.isCausal, maskKind: attrs.maskKind,
    q: layout.q, k: layout.k, v: layout.v,
    ...(layout.maskValues ? {
      mask: layout.maskValues, maskElements: layout.maskValues.length,
      maskStrideB: strides[0], maskStrideH: strides[1], maskStrideQ: strides[2], maskStrideK: strides[3],
    } : {}),
    ...(layout.keyPadding ? {keyValid: validityBytes(layout.keyPadding)} : {}),
  };
}

export function nativeAttentionForward(core: NativeCore, layout: AttentionLayout, attrs: SdpaAttrs,
                                       out: Float32Array, lse: Float32Array): void {
  core.attentionForward({...nativeAttentionArgs(layout, attrs), out, lse});
}
