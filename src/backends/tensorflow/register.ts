/**
 * The kernels this package provides for tfjs-node's `tensorflow` backend (one
 * file per op in kernels/), usable once the op library loads.
 */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {attentionWithKVCacheConfig} from './kernels/AttentionWithKVCache';
import {embeddingSumConfig} from './kernels/EmbeddingSum';
import {layerNormConfig} from './kernels/LayerNorm';
import {reorderCacheConfig} from './kernels/ReorderCache';
import {rmsNormConfig} from './kernels/RmsNorm';
import {rotaryEmbeddingConfig} from './kernels/RotaryEmbedding';
import {scaledDotProductAttentionConfig} from './kernels/ScaledDotProductAttention';
import {scaledDotProductAttentionGradConfig} from './kernels/ScaledDotProductAttentionGrad';
import {transformerDecoderStackConfig} from './kernels/TransformerDecoderStack';
import {transformerEncoderLayerConfig} from './kernels/TransformerEncoderLayer';
import {transformerEncoderStackConfig} from './kernels/TransformerEncoderStack';

export const tensorflowKernelConfigs: KernelConfig[] = [
  scaledDotProductAttentionConfig,
  scaledDotProductAttentionGradConfig,
  transformerEncoderLayerConfig,
  transformerEncoderStackConfig,
  rmsNormConfig,
  rotaryEmbeddingConfig,
  attentionWithKVCacheConfig,
  transformerDecoderStackConfig,
  reorderCacheConfig,
  layerNormConfig,
  embeddingSumConfig,
];
