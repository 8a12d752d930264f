/** ScaledDotProductAttention(Grad) on the native core: the addon's shape, scale and mask arguments. */
import {SdpaAttrs} from '../../../op_table';
import {AttentionLayout} from '../attention_layout';
import {validityBytes} from './addon';
import type {SdpaShape} from './api';

export function nativeSdpaShape(layout: AttentionLayout, attrs: SdpaAttrs): SdpaShape {
  const shape: SdpaShape = {
    B: layout.batch, H: layout.heads, Hkv: layout.kvHeads, Sq: layout.querySeq, Sk: layout.keySeq,
    D: layout.depth, Dv: layout.valueDepth, scale: attrs.scale, causal: attrs.isCausal,
  };
  if (layout.maskValues && layout.maskStrides) {
    const [b, h, i, j] = layout.maskStrides;
    shape.mask = layout.maskValues;
    shape.maskKind = attrs.maskKind === 'bool' ? 'bool' : 'float';
    shape.maskStrides = [b, h, i, j];
  }
  if (layout.keyPadding) shape.keyPadding = validityBytes(layout.keyPadding);
  return shape;
}
