/** The kernels this package provides for tfjs-backend-cpu (`cpu`). */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import {fusedEncoderLayerCpuConfig} from './fused_encoder_layer';
import {fusedEncoderStackCpuConfig} from './fused_encoder_stack';
import {fusedSdpaCpuConfig} from './fused_sdpa';
import {fusedSdpaGradCpuConfig} from './fused_sdpa_grad';

export const cpuKernelConfigs: KernelConfig[] = [
  fusedSdpaCpuConfig,
  fusedSdpaGradCpuConfig,
  fusedEncoderLayerCpuConfig,
  fusedEncoderStackCpuConfig,
];
