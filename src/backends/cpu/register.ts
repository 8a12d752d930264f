/** The kernels this package provides for tfjs-backend-cpu (`cpu`): one file per op in kernels/. */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {embeddingSumConfig} from './kernels/EmbeddingSum';
import {layerNormConfig} from './kernels/LayerNorm';
import {scaledDotProductAttentionConfig} from './kernels/ScaledDotProductAttention';
import {scaledDotProductAttentionGradConfig} from './kernels/ScaledDotProductAttentionGrad';
import {transformerEncoderLayerConfig} from './kernels/TransformerEncoderLayer';
import {transformerEncoderStackConfig} from './kernels/TransformerEncoderStack';

export const cpuKernelConfigs: KernelConfig[] = [
  scaledDotProductAttentionConfig,
  scaledDotProductAttentionGradConfig,
  transformerEncoderLayerConfig,
  transformerEncoderStackConfig,
  layerNormConfig,
  embeddingSumConfig,
];
