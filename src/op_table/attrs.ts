/**
 * The attributes and input orders of the ops' kernels, shared by every
 * implementation (the backends' kernels, the composites, the gradients and the
 * graph-op executor). The op table (table.ts) refers to these lists.
 */
import type {NamedAttrMap} from '@tensorflow/tfjs-core';
import type {GpuPrecision} from '../config';

/**
 * The `precision` attribute of the ops whose GPU kernels do matrix products (the attention ops,
 * the encoder layer and stack, the cache attention and the decoder stack): the arithmetic of those
 * products on the GPU ('highest' | 'high' | 'medium', see setGpuPrecision). A runtime choice: the
 * public op resolves it at each call (its `precision` option, else getGpuPrecision()) and passes it
 * to the kernel; the rewriting pass never writes it into a GraphDef node. The CPU kernels and the
 * composites compute in float32 and ignore it.
 */
export interface GpuPrecisionAttr {
  precision: GpuPrecision;
}

/** How the `attnMask` input of the attention kernels is to be read. */
export type AttnMaskKind = 'none' | 'bool' | 'additive';

export const ATTENTION_INPUTS = ['q', 'k', 'v', 'attnMask', 'keyPaddingMask'] as const;

/**
 * Attributes of ScaledDotProductAttention(Grad).
 *
 * Inputs (always all five, so that gradients can save them by name):
 *   q [B,H,Sq,D], k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv],
 *   attnMask (broadcastable to [B,H,Sq,Sk]; a [0]-shaped placeholder when
 *   maskKind is 'none'), keyPaddingMask ([B,Sk]; a [0]-shaped placeholder when
 *   hasKeyPaddingMask is false).
 * Outputs: out [B,H,Sq,Dv], lse [B,H,Sq] (log-sum-exp of each row's masked,
 * scaled scores; -Infinity for rows with no visible key).
 */
export interface SdpaAttrs extends NamedAttrMap, GpuPrecisionAttr {
  scale: number;
  isCausal: boolean;
  maskKind: AttnMaskKind;
  hasKeyPaddingMask: boolean;
}

export type EncoderActivation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';
export const ENCODER_ACTIVATIONS: readonly EncoderActivation[] = ['gelu', 'gelu_tanh', 'relu', 'silu'];

/** 'layer': LayerNorm (gamma, beta); 'rms': RMSNorm x / sqrt(mean(x²) + eps) · gamma, no beta (T5). */
export type EncoderNormKind = 'layer' | 'rms';
export const ENCODER_NORM_KINDS: readonly EncoderNormKind[] = ['layer', 'rms'];

/**
 * Attributes of TransformerEncoderLayer. Inputs are named as in
 * `ENCODER_KERNEL_INPUTS`; QKV is either packed (qkvWeight/qkvBias) or
 * separate (q/k/v Weight/Bias), as `packedQkv` says, and the unused form and
 * an absent keyPaddingMask (hasKeyPaddingMask false) get placeholders.
 *
 * Every bias and LayerNorm beta may be a placeholder (absent = 0; T5 has
 * none); with normKind 'rms' the betas are always placeholders. gateWeight
 * [E, F] and gateBias [F] are placeholders unless gatedMlp: the MLP is then
 * ffnOut(act(gate(x)) · ffnIn(x)) + ffnOutBias (T5 v1.1 "gated-gelu": gate =
 * wi_0, ffnIn = wi_1). attentionBias (hasAttentionBias) is float32
 * [1 or B, H, S, S], added to scale · q·kᵀ of the attention at the original
 * (unpacked) positions, together with the key padding mask and isCausal.
 */
export interface EncoderLayerAttrs extends NamedAttrMap, GpuPrecisionAttr {
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  layerNormEps1: number;
  layerNormEps2: number;
  isCausal: boolean;
  scale: number;
  packedQkv: boolean;
  hasKeyPaddingMask: boolean;
  normKind: EncoderNormKind;
  gatedMlp: boolean;
  hasAttentionBias: boolean;
}

/** Weight inputs of the encoder layer kernel other than the QKV projection. */
export const ENCODER_COMMON_WEIGHT_INPUTS = [
  'outWeight', 'outBias', 'ln1Gamma', 'ln1Beta', 'ln2Gamma', 'ln2Beta',
  'ffnInWeight', 'ffnInBias', 'ffnOutWeight', 'ffnOutBias', 'gateWeight', 'gateBias',
] as const;

/** The optional weight inputs: biases and betas (absent = 0) and the gate projection (gatedMlp only). */
export const ENCODER_OPTIONAL_WEIGHT_INPUTS = [
  'qkvBias', 'qBias', 'kBias', 'vBias', 'outBias', 'ln1Beta', 'ln2Beta', 'ffnInBias', 'ffnOutBias', 'gateWeight',
  'gateBias',
] as const;
export const ENCODER_PACKED_QKV_INPUTS = ['qkvWeight', 'qkvBias'] as const;
export const ENCODER_SEPARATE_QKV_INPUTS =
    ['qWeight', 'kWeight', 'vWeight', 'qBias', 'kBias', 'vBias'] as const;

/** One layer's weight inputs, in the order TransformerEncoderLayer takes them after `x`. */
export const ENCODER_WEIGHT_INPUTS = [
  ...ENCODER_PACKED_QKV_INPUTS, ...ENCODER_SEPARATE_QKV_INPUTS, ...ENCODER_COMMON_WEIGHT_INPUTS,
] as const;
export type EncoderWeightName = typeof ENCODER_WEIGHT_INPUTS[number];

/** Every input of TransformerEncoderLayer, in a fixed order; unused ones get placeholders. */
export const ENCODER_KERNEL_INPUTS = ['x', ...ENCODER_WEIGHT_INPUTS, 'keyPaddingMask', 'attentionBias'] as const;

/**
 * Attributes of TransformerEncoderStack: numLayers encoder layers applied
 * in order, sharing numHeads, normFirst, activation, isCausal, scale,
 * normKind, gatedMlp and the attention bias; the QKV form and the norm eps
 * are per layer.
 *
 * Inputs are an array (so that the gradient can save all of them):
 *   [x, keyPaddingMask, attentionBias, ...layer 0's ENCODER_WEIGHT_INPUTS, ...layer 1's, ...]
 * with [0]-shaped placeholders for the QKV form a layer does not use, the
 * absent biases and betas, the gate unless gatedMlp, an absent keyPaddingMask
 * (hasKeyPaddingMask false) and an absent attentionBias (hasAttentionBias
 * false; else [1 or B, H, S, S], added in every layer). See encoderStackInputIndex.
 */
export interface EncoderStackAttrs extends NamedAttrMap, GpuPrecisionAttr {
  numLayers: number;
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  isCausal: boolean;
  scale: number;
  packedQkv: boolean[];
  layerNormEps1: number[];
  layerNormEps2: number[];
  hasKeyPaddingMask: boolean;
  normKind: EncoderNormKind;
  gatedMlp: boolean;
  hasAttentionBias: boolean;
}

export const ENCODER_STACK_X_INPUT = 0;
export const ENCODER_STACK_KEY_PADDING_INPUT = 1;
export const ENCODER_STACK_ATTENTION_BIAS_INPUT = 2;
/** Inputs of TransformerEncoderStack before layer 0's weights. */
export const ENCODER_STACK_LEADING_INPUTS = 3;

/** Index in TransformerEncoderStack's input array of `layer`'s weight `name`. */
export function encoderStackInputIndex(layer: number, name: EncoderWeightName): number {
  return ENCODER_STACK_LEADING_INPUTS + layer * ENCODER_WEIGHT_INPUTS.length + ENCODER_WEIGHT_INPUTS.indexOf(name);
}

/** The TransformerEncoderLayer attributes of layer `layer` of a stack. */
export function encoderStackLayerAttrs(attrs: EncoderStackAttrs, layer: number): EncoderLayerAttrs {
  return {
    numHeads: attrs.numHeads, normFirst: attrs.normFirst, activation: attrs.activation,
    layerNormEps1: attrs.layerNormEps1[layer], layerNormEps2: attrs.layerNormEps2[layer],
    isCausal: attrs.isCausal, scale: attrs.scale, packedQkv: attrs.packedQkv[layer],
    hasKeyPaddingMask: attrs.hasKeyPaddingMask, normKind: attrs.normKind, gatedMlp: attrs.gatedMlp,
    hasAttentionBias: attrs.hasAttentionBias, precision: attrs.precision,
  };
}

/** Attributes of LayerNorm; inputs x [..., W], gamma [W], beta [W]. */
export interface LayerNormAttrs extends NamedAttrMap {
  epsilon: number;
}

/**
 * Attributes of EmbeddingSum. Inputs are an array:
 *   [gamma, beta, table0, indices0, table1, indices1, ...]
 * Term k is a lookup (table_k [rows, W] gathered at int32 indices_k) when
 * lookups[k], else a constant table_k [..., W] added as it is (its leading
 * axes broadcast with the lookups' index shapes) and indices_k is a
 * placeholder. gamma and beta ([W]) are placeholders unless hasNorm.
 */
export interface EmbeddingSumAttrs extends NamedAttrMap {
  numTerms: number;
  lookups: boolean[];
  hasNorm: boolean;
  epsilon: number;
}

export const EMBEDDING_SUM_GAMMA_INPUT = 0;
export const EMBEDDING_SUM_BETA_INPUT = 1;

export function embeddingSumTableInput(term: number): number {
  return 2 + 2 * term;
}

export function embeddingSumIndicesInput(term: number): number {
  return 3 + 2 * term;
}

/** Attributes of RmsNorm; inputs x [..., W], gamma [W]. */
export interface RmsNormAttrs extends NamedAttrMap {
  epsilon: number;
}

/**
 * Attributes of RotaryEmbedding. Inputs: x [B, H, S, D] float32, positions
 * [B, S] int32 (each a row of the tables), cos and sin [P, rotaryDim / 2].
 * Feature pairs (a, b) of the first rotaryDim features become
 * (a·cos − b·sin, b·cos + a·sin): pairs (i, i + rotaryDim/2) ("rotate half",
 * GPT-NeoX, Llama, Mistral) or (2i, 2i + 1) when interleaved (GPT-J); the
 * remaining features pass through.
 */
export interface RotaryEmbeddingAttrs extends NamedAttrMap {
  rotaryDim: number;
  interleaved: boolean;
}

/**
 * AttentionWithKVCache's inputs: q [B,H,N,D], k [B,Hkv,N,D], v [B,Hkv,N,Dv],
 * keyCache [B,Hkv,C,D], valueCache [B,Hkv,C,Dv], pastLengths and newLengths
 * [B] int32. Outputs: out [B,H,N,Dv], keyCache, valueCache (the input caches
 * updated in place where the backend can: their buffers are donated), lengths
 * [B] int32 = past + new.
 */
export const KV_CACHE_ATTENTION_INPUTS =
    ['q', 'k', 'v', 'keyCache', 'valueCache', 'pastLengths', 'newLengths'] as const;

export interface KvCacheAttentionAttrs extends NamedAttrMap, GpuPrecisionAttr {
  scale: number;
}

export type DecoderActivation = 'gelu' | 'gelu_tanh' | 'relu' | 'silu';
export const DECODER_ACTIVATIONS: readonly DecoderActivation[] = ['gelu', 'gelu_tanh', 'relu', 'silu'];
export type DecoderNormKind = 'layer' | 'rms';
export type DecoderLogitsRows = 'last' | 'all';
export type WeightPrecision = 'float32' | 'bfloat16';

/**
 * TransformerDecoderStack's inputs before the layers'. keyCache/valueCache are
 * [layers, B, Hkv, C, D]; wordEmbeddings [vocab, E]; positionEmbeddings
 * [rows, E] (learned positions, or a placeholder); rotaryCos/rotarySin
 * [rows, rotaryDim / 2] (or placeholders); lmHead [E, vocab], or [vocab, E]
 * when lmHeadTransposed (tied to wordEmbeddings); lmHeadBias [vocab] or a
 * placeholder; finalNormGamma/Beta [E] or placeholders.
 *
 * Encoder–decoder models (placeholders otherwise): positionBias [H, P] (added
 * to the self-attention score of a query at position i and a key at j:
 * positionBias[h, i − j], hasPositionBias); encoderStates [B, S, E]
 * (fillCrossCache: every layer's cross keys/values are computed from them into
 * the cross caches before the step); sourceMask [B, S] int32 (hasSourceMask;
 * nonzero = a real source token); crossKeyCache/crossValueCache
 * [layers, B, Hkv, S, D] (crossAttention; donated like keyCache/valueCache).
 * embeddingNormGamma/Beta [E] (hasEmbeddingNorm: the embeddings are normed,
 * with the layers' normKind, before layer 0 — BART's layernorm_embedding).
 */
export const DECODER_STACK_INPUTS = [
  'inputIds', 'pastLengths', 'newLengths', 'keyCache', 'valueCache', 'wordEmbeddings', 'positionEmbeddings',
  'rotaryCos', 'rotarySin', 'finalNormGamma', 'finalNormBeta', 'lmHead', 'lmHeadBias',
  'positionBias', 'encoderStates', 'sourceMask', 'crossKeyCache', 'crossValueCache', 'embeddingNormGamma',
  'embeddingNormBeta',
] as const;
export type DecoderStackInputName = typeof DECODER_STACK_INPUTS[number];

/**
 * One decoder layer's inputs ([0]-shaped placeholders for the absent ones):
 * QKV packed ([E, (H + 2·Hkv)·D], columns q | k | v) or separate; the MLP is
 * down(act(up(x))), or down(act(gate(x)) · up(x)) when gatedMlp. Weights are
 * [in, out]; norm betas are absent for RMSNorm. With crossAttention the layer
 * also attends to the encoder: its norm (crossNormGamma/Beta), crossQWeight
 * [E, H·D], crossKWeight/crossVWeight [E, Hkv·D] (they fill the cross caches
 * from encoderStates), crossOutWeight [H·D, E] and their optional biases.
 */
export const DECODER_LAYER_INPUTS = [
  'norm1Gamma', 'norm1Beta', 'norm2Gamma', 'norm2Beta', 'qkvWeight', 'qkvBias', 'qWeight', 'qBias', 'kWeight',
  'kBias', 'vWeight', 'vBias', 'outWeight', 'outBias', 'gateWeight', 'gateBias', 'upWeight', 'upBias',
  'downWeight', 'downBias',
  'crossNormGamma', 'crossNormBeta', 'crossQWeight', 'crossQBias', 'crossKWeight', 'crossKBias', 'crossVWeight',
  'crossVBias', 'crossOutWeight', 'crossOutBias',
] as const;

/** The cross-attention inputs of a layer (all placeholders unless crossAttention). */
export const DECODER_CROSS_LAYER_INPUTS = [
  'crossNormGamma', 'crossNormBeta', 'crossQWeight', 'crossQBias', 'crossKWeight', 'crossKBias', 'crossVWeight',
  'crossVBias', 'crossOutWeight', 'crossOutBias',
] as const;
export type DecoderLayerInputName = typeof DECODER_LAYER_INPUTS[number];

/**
 * Attributes of TransformerDecoderStack: one step over `inputIds` [B, N]
 * (row b's first newLengths[b] ids are its new tokens at positions
 * pastLengths[b] + i; the rest are padding, never read). Outputs: logits
 * ([B, vocab] of each sequence's last new token when logitsRows is 'last',
 * [B, N, vocab] when 'all'; rows without a token are 0), keyCache,
 * valueCache (updated in place where the backend can), lengths [B] int32,
 * crossKeyCache, crossValueCache (the inputs, filled in place where the
 * backend can; the placeholders passed through without crossAttention).
 *
 * A layer with cross-attention (never a parallel one), Nc its cross norm:
 *   pre-norm:  x += SelfAttn(N1(x)); x += CrossAttn(Nc(x)); x += MLP(N2(x))
 *   post-norm: x = N1(x + SelfAttn(x)); x = Nc(x + CrossAttn(x)); x = N2(x + MLP(x))
 * CrossAttn: q = h·crossQWeight + crossQBias, softmax(scale · q·k) over the
 * real source rows of the layer's cross caches (no causality, no position
 * bias), · values, then ·crossOutWeight + crossOutBias.
 */
export interface DecoderModelAttrs extends NamedAttrMap {
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  normKind: DecoderNormKind;
  /** Pre-norm (GPT-2, OPT, GPT-J, Llama) when true; post-norm otherwise. */
  normFirst: boolean;
  /** x + attn(n1(x)) + mlp(n2(x)) — n1(x) for both when parallelSharedNorm (GPT-J). */
  parallel: boolean;
  parallelSharedNorm: boolean;
  activation: DecoderActivation;
  gatedMlp: boolean;
  packedQkv: boolean;
  scale: number;
  embeddingScale: number;
  /** A token at position p reads learned position row p + positionOffset (OPT: 2). */
  positionOffset: number;
  /** 0: no rotary embedding. */
  rotaryDim: number;
  rotaryInterleaved: boolean;
  hasFinalNorm: boolean;
  lmHeadTransposed: boolean;
  normEps1: number[];
  normEps2: number[];
  finalNormEps: number;
  logitsRows: DecoderLogitsRows;
  /** 'bfloat16': the native `cpu` kernel reads bfloat16 copies of the weights; others compute in float32. */
  weightPrecision: WeightPrecision;
  /** Every layer attends to the encoder through crossKeyCache/crossValueCache. */
  crossAttention: boolean;
  /** encoderStates is given: the cross caches are computed from it before the step. */
  fillCrossCache: boolean;
  hasSourceMask: boolean;
  hasPositionBias: boolean;
  /** Per layer: the epsilon of the cross-attention norm. */
  normEpsCross: number[];
  /** x = Norm(embeddingScale · word + position) before layer 0 (embeddingNormGamma/Beta, embeddingNormEps). */
  hasEmbeddingNorm: boolean;
  embeddingNormEps: number;
  /** With hasEmbeddingNorm: x = Norm(embeddingScale · word) + position instead (BlenderbotSmall's decoder). */
  embeddingNormBeforePositions: boolean;
}

/** A decoder model's attributes (checked once, reused by every step) and the step's precision. */
export interface DecoderStackAttrs extends DecoderModelAttrs, GpuPrecisionAttr {}

/** Index in TransformerDecoderStack's input array of a global input. */
export function decoderStackInput(name: DecoderStackInputName): number {
  return DECODER_STACK_INPUTS.indexOf(name);
}

/** Index in TransformerDecoderStack's input array of `layer`'s input `name`. */
export function decoderLayerInput(layer: number, name: DecoderLayerInputName): number {
  return DECODER_STACK_INPUTS.length + layer * DECODER_LAYER_INPUTS.length + DECODER_LAYER_INPUTS.indexOf(name);
}

/**
 * ReorderCache's inputs (beam search): keyCache/valueCache [layers, B, Hkv, C, D],
 * lengths [B] int32, sourceRows [B] int32 (each in [0, B), repeats allowed).
 * Outputs keyCache, valueCache, lengths: new row b = old row sourceRows[b]
 * (positions [0, lengths[sourceRows[b]]) copied; the rest of a row is
 * unspecified), new lengths[b] = old lengths[sourceRows[b]]. The caches are
 * donated (reordered in place where the backend can).
 */
export const REORDER_CACHE_INPUTS = ['keyCache', 'valueCache', 'lengths', 'sourceRows'] as const;
