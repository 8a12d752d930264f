/** The composite of every op that has one (the op table's `composite: true`). */
import {CompositeFunc, registerComposite} from '../dispatch/composite_registry';
import type {OpName} from '../op_table';
import {compositeAttentionScoresShape} from './AttentionScoresShape';
import {compositeAttentionWithKVCache} from './AttentionWithKVCache';
import {compositeEmbeddingSum} from './EmbeddingSum';
import {compositeLayerNorm} from './LayerNorm';
import {compositeRelativePositionBias} from './RelativePositionBias';
import {compositeReorderCache} from './ReorderCache';
import {compositeRmsNorm} from './RmsNorm';
import {compositeRotaryEmbedding} from './RotaryEmbedding';
import {compositeScaledDotProductAttention} from './ScaledDotProductAttention';
import {compositeTransformerDecoderStack} from './TransformerDecoderStack';
import {compositeTransformerEncoderLayer} from './TransformerEncoderLayer';
import {compositeTransformerEncoderStack} from './TransformerEncoderStack';

export const COMPOSITES: Partial<Record<OpName, CompositeFunc>> = {
  ScaledDotProductAttention: compositeScaledDotProductAttention,
  TransformerEncoderLayer: compositeTransformerEncoderLayer,
  TransformerEncoderStack: compositeTransformerEncoderStack,
  LayerNorm: compositeLayerNorm,
  EmbeddingSum: compositeEmbeddingSum,
  AttentionScoresShape: compositeAttentionScoresShape,
  RmsNorm: compositeRmsNorm,
  RotaryEmbedding: compositeRotaryEmbedding,
  AttentionWithKVCache: compositeAttentionWithKVCache,
  TransformerDecoderStack: compositeTransformerDecoderStack,
  ReorderCache: compositeReorderCache,
  RelativePositionBias: compositeRelativePositionBias,
};

export function registerComposites(): void {
  for (const [op, func] of Object.entries(COMPOSITES)) registerComposite(op as OpName, func as CompositeFunc);
}
