/** The kernels this package provides for tfjs-backend-cpu (`cpu`): one file per op in kernels/. */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {attentionWithKVCacheConfig} from './kernels/AttentionWithKVCache';
import {embeddingSumConfig} from './kernels/EmbeddingSum';
import {layerNormConfig} from './kernels/LayerNorm';
import {relativePositionBiasConfig} from './kernels/RelativePositionBias';
import {reorderCacheConfig} from './kernels/ReorderCache';
import {rmsNormConfig} from './kernels/RmsNorm';
import {rotaryEmbeddingConfig} from './kernels/RotaryEmbedding';
import {scaledDotProductAttentionConfig} from './kernels/ScaledDotProductAttention';
import {scaledDotProductAttentionGradConfig} from './kernels/ScaledDotProductAttentionGrad';
import {transformerDecoderStackConfig} from './kernels/TransformerDecoderStack';
import {transformerEncoderLayerConfig} from './kernels/TransformerEncoderLayer';
import {transformerEncoderStackConfig} from './kernels/TransformerEncoderStack';

export const cpuKernelConfigs: KernelConfig[] = [
  scaledDotProductAttentionConfig,
  scaledDotProductAttentionGradConfig,
  transformerEncoderLayerConfig,
  transformerEncoderStackConfig,
  layerNormConfig,
  embeddingSumConfig,
  rmsNormConfig,
  rotaryEmbeddingConfig,
  attentionWithKVCacheConfig,
  transformerDecoderStackConfig,
  reorderCacheConfig,
  relativePositionBiasConfig,
];
