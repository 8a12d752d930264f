/** FusedScaledDotProductAttention(Grad) for tfjs-node (`tensorflow`), run as the TensorFlow ops of kernels/tensorflow. */
import type {KernelConfig, KernelFunc, TensorInfo} from '@tensorflow/tfjs-core';
import {FusedScaledDotProductAttention, FusedScaledDotProductAttentionGrad, SdpaAttrs} from '../../kernel_names';
import {asNodeBackend, NodeBackend, OpAttrs} from './node_backend';

function attentionAttrs(backend: NodeBackend, a: SdpaAttrs, mask: TensorInfo, padding: TensorInfo) {
  return new OpAttrs(backend)
      .dtype('Tmask', mask.dtype).dtype('Tpad', padding.dtype)
      .float('scale', a.scale).bool('is_causal', a.isCausal)
      .string('mask_kind', a.maskKind).bool('has_key_padding_mask', a.hasKeyPaddingMask)
      .build();
}

const forward: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {q, k, v, attnMask, keyPaddingMask} = inputs as Record<string, TensorInfo>;
  return nb.executeMultipleOutputs('BtFusedScaledDotProductAttention',
                                   attentionAttrs(nb, attrs as SdpaAttrs, attnMask, keyPaddingMask),
                                   [q, k, v, attnMask, keyPaddingMask], 2);
};

const backward: KernelFunc = ({inputs, backend, attrs}) => {
  const nb = asNodeBackend(backend);
  const {dy, q, k, v, attnMask, keyPaddingMask, out, lse} = inputs as Record<string, TensorInfo>;
  return nb.executeMultipleOutputs('BtFusedScaledDotProductAttentionGrad',
                                   attentionAttrs(nb, attrs as SdpaAttrs, attnMask, keyPaddingMask),
                                   [dy, q, k, v, attnMask, keyPaddingMask, out, lse], 4);
};

export const fusedSdpaTensorflowConfig: KernelConfig = {
  kernelName: FusedScaledDotProductAttention,
  backendName: 'tensorflow',
  kernelFunc: forward,
};

export const fusedSdpaGradTensorflowConfig: KernelConfig = {
  kernelName: FusedScaledDotProductAttentionGrad,
  backendName: 'tensorflow',
  kernelFunc: backward,
};
