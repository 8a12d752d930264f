/** The kernels this package provides for tfjs-node's `tensorflow` backend (usable once the op library loads). */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {fusedEncoderLayerTensorflowConfig} from './fused_encoder_layer';
import {fusedEncoderStackTensorflowConfig} from './fused_encoder_stack';
import {fusedSdpaGradTensorflowConfig, fusedSdpaTensorflowConfig} from './fused_sdpa';

export const tensorflowKernelConfigs: KernelConfig[] = [
  fusedSdpaTensorflowConfig,
  fusedSdpaGradTensorflowConfig,
  fusedEncoderLayerTensorflowConfig,
  fusedEncoderStackTensorflowConfig,
];
