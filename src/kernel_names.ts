/**
 * Kernel names and the attribute shapes shared by every backend's kernel
 * (the op semantics live in src/ops, the per-backend kernels in src/backends).
 */
import type {NamedAttrMap} from '@tensorflow/tfjs-core';

export const FusedScaledDotProductAttention = 'FusedScaledDotProductAttention';
export const FusedScaledDotProductAttentionGrad = 'FusedScaledDotProductAttentionGrad';
export const FusedTransformerEncoderLayer = 'FusedTransformerEncoderLayer';

/** How the `attnMask` input of the attention kernels is to be read. */
export type AttnMaskKind = 'none' | 'bool' | 'additive';

/**
 * Attributes of FusedScaledDotProductAttention(Grad).
 *
 * Inputs (always all five, so that gradients can save them by name):
 *   q [B,H,Sq,D], k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv],
 *   attnMask (broadcastable to [B,H,Sq,Sk]; a [0]-shaped placeholder when
 *   maskKind is 'none'), keyPaddingMask ([B,Sk]; a [0]-shaped placeholder when
 *   hasKeyPaddingMask is false).
 * Outputs: out [B,H,Sq,Dv], lse [B,H,Sq] (log-sum-exp of each row's masked,
 * scaled scores; -Infinity for rows with no visible key).
 */
export interface SdpaAttrs extends NamedAttrMap {
  scale: number;
  isCausal: boolean;
  maskKind: AttnMaskKind;
  hasKeyPaddingMask: boolean;
}

export type EncoderActivation = 'gelu' | 'gelu_tanh' | 'relu';

/**
 * Attributes of FusedTransformerEncoderLayer. Inputs are named as in
 * `ENCODER_WEIGHT_INPUTS` plus `x` and `keyPaddingMask` (placeholder when
 * hasKeyPaddingMask is false); QKV is either packed (qkvWeight/qkvBias) or
 * separate (q/k/v Weight/Bias), as `packedQkv` says.
 */
export interface EncoderLayerAttrs extends NamedAttrMap {
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  layerNormEps1: number;
  layerNormEps2: number;
  isCausal: boolean;
  scale: number;
  packedQkv: boolean;
  hasKeyPaddingMask: boolean;
}

/** Weight inputs of the encoder layer kernel other than the QKV projection. */
export const ENCODER_COMMON_WEIGHT_INPUTS = [
  'outWeight', 'outBias', 'ln1Gamma', 'ln1Beta', 'ln2Gamma', 'ln2Beta',
  'ffnInWeight', 'ffnInBias', 'ffnOutWeight', 'ffnOutBias',
] as const;
export const ENCODER_PACKED_QKV_INPUTS = ['qkvWeight', 'qkvBias'] as const;
export const ENCODER_SEPARATE_QKV_INPUTS =
    ['qWeight', 'kWeight', 'vWeight', 'qBias', 'kBias', 'vBias'] as const;

/** Every input of FusedTransformerEncoderLayer, in a fixed order; unused ones get placeholders. */
export const ENCODER_KERNEL_INPUTS = [
  'x', ...ENCODER_PACKED_QKV_INPUTS, ...ENCODER_SEPARATE_QKV_INPUTS, ...ENCODER_COMMON_WEIGHT_INPUTS, 'keyPaddingMask',
] as const;
