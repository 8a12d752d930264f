/**
 * The JavaScript API of the native core addon, tfjs_bt_kernels.node (kernels/bindings/node,
 * built from the package root's binding.gyp; see kernels/core/README.md).
 * All functions are synchronous and write into the caller's typed arrays.
 * Invalid arguments throw TypeError/RangeError naming the argument.
 */

/** An opaque packed weight (a type-tagged External); freed by the GC or releaseWeight(). */
export type PackedWeight = object & {readonly __packedWeightBrand?: never};

/** Shape, scale and masks shared by scaledDotProductAttention and scaledDotProductAttentionGrad. */
export interface SdpaShape {
  B: number;
  H: number;
  /** kv heads, must divide H (default H); query head h reads kv head floor(h / (H / Hkv)). */
  Hkv?: number;
  Sq: number;
  Sk: number;
  D: number;
  /** value head size (default D) */
  Dv?: number;
  /** default 1 / sqrt(D) */
  scale?: number;
  /** bottom-right aligned: key j visible to query i iff j <= i + Sk - Sq */
  causal?: boolean;
  /** Uint8Array: nonzero = attend; Float32Array: added to the scaled score. */
  mask?: Uint8Array | Float32Array;
  /** Optional; must match the mask's array type ('additive' means 'float'). */
  maskKind?: 'bool' | 'float' | 'additive' | 'none';
  /** Element strides [b, h, i, j] of the mask; 0 broadcasts a dimension. Required with a mask. */
  maskStrides?: [number, number, number, number];
  /** [B, Sk], nonzero = real key. */
  keyPadding?: Uint8Array;
}

export interface SdpaForwardArgs extends SdpaShape {
  q: Float32Array; // [B, H, Sq, D]
  k: Float32Array; // [B, Hkv, Sk, D]
  v: Float32Array; // [B, Hkv, Sk, Dv]
  out: Float32Array; // [B, H, Sq, Dv], written
  lse?: Float32Array; // [B, H, Sq], written (natural log; -Infinity for rows that see no key)
}

export interface SdpaBackwardArgs extends SdpaShape {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  out: Float32Array; // the forward output
  lse: Float32Array; // the forward logsumexp
  dOut: Float32Array; // [B, H, Sq, Dv]
  dQ: Float32Array; // written
  dK: Float32Array; // written, summed over the query heads sharing a kv head
  dV: Float32Array; // written
  /** Float masks only: mask.length elements, overwritten with the mask gradient. */
  dMask?: Float32Array;
}

/** A weight [in, out] (y = x.W + b): a handle from packWeight, or a Float32Array packed for this call. */
export type Weight = PackedWeight | Float32Array;

export interface EncoderLayerParams {
  numHeads: number;
  /** [E, 3E]: all Q columns, then K, then V; head h owns columns h*Dh..(h+1)*Dh of each. */
  wqkv?: Weight;
  bqkv?: Float32Array; // [3E]
  /** Separate projections, each [E, E] (instead of wqkv). */
  wq?: Weight;
  wk?: Weight;
  wv?: Weight;
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
  wo: Weight; // [E, E]
  bo?: Float32Array;
  w1: Weight; // [E, F]
  b1?: Float32Array; // [F]
  w2: Weight; // [F, E]
  b2?: Float32Array;
  ln1Gamma?: Float32Array; // [E], default 1
  ln1Beta?: Float32Array; // [E], default 0
  ln1Eps?: number; // default 1e-5
  ln2Gamma?: Float32Array;
  ln2Beta?: Float32Array;
  ln2Eps?: number;
  /** 'rms': both norms are RMSNorms (x / sqrt(mean(x²) + eps) · gamma; no beta may be given). Default 'layer'. */
  normKind?: 'layer' | 'rms';
  /** MLP w2(act(x.wgate + bgate) · (x.w1 + b1)) + b2 (T5 v1.1's gated-gelu: wgate = wi_0, w1 = wi_1). */
  gatedMlp?: boolean;
  wgate?: Weight; // [E, F], gatedMlp only
  bgate?: Float32Array; // [F]
  /** default 'gelu' (erf); 'gelu_erf' and 'gelu_new' are aliases */
  activation?: 'gelu' | 'gelu_erf' | 'gelu_tanh' | 'gelu_new' | 'relu' | 'silu';
  /** false: post-norm (BERT); true: pre-norm (GPT-2, ViT, T5) */
  normFirst?: boolean;
  isCausal?: boolean;
  /** attention scale, default 1 / sqrt(E / numHeads) */
  scale?: number;
}

export interface EncoderInput {
  x: Float32Array; // [B, S, E]
  out: Float32Array; // [B, S, E], written; rows at padded positions are 0
  B: number;
  S: number;
  E: number;
  /** [B, S], nonzero = real token (any pattern) */
  keyPadding?: Uint8Array;
  /**
   * [1 or B, H, S, S] (the batch follows from the length; H = every layer's numHeads): added to the scaled
   * scores of every layer at the tokens' original positions (T5's relative position bias).
   */
  attentionBias?: Float32Array;
}

/** A decoder weight, read in place (never copied): a Float32Array, or a packWeight/packWeightBf16 handle. */
export type InPlaceWeight = PackedWeight | Float32Array;

export interface DecoderLayerParams {
  norm1Gamma?: Float32Array;
  norm1Beta?: Float32Array;
  norm1Eps?: number;
  norm2Gamma?: Float32Array;
  norm2Beta?: Float32Array;
  norm2Eps?: number;
  /** [E, (H + 2 Hkv) D], columns q | k | v; or wq [E, H D], wk, wv [E, Hkv D]. */
  wqkv?: InPlaceWeight;
  bqkv?: Float32Array;
  wq?: InPlaceWeight;
  wk?: InPlaceWeight;
  wv?: InPlaceWeight;
  bq?: Float32Array;
  bk?: Float32Array;
  bv?: Float32Array;
  wo: InPlaceWeight; // [H D, E]
  bo?: Float32Array;
  wgate?: InPlaceWeight; // [E, F], gatedMlp only
  bgate?: Float32Array;
  wup: InPlaceWeight; // [E, F]
  bup?: Float32Array;
  wdown: InPlaceWeight; // [F, E]
  bdown?: Float32Array;
  /** Cross-attention (model.crossAttention only): its norm, wcq [E, H D], wck/wcv [E, Hkv D], wco [H D, E]. */
  crossNormGamma?: Float32Array;
  crossNormBeta?: Float32Array;
  crossNormEps?: number;
  wcq?: InPlaceWeight;
  bcq?: Float32Array;
  wck?: InPlaceWeight;
  bck?: Float32Array;
  wcv?: InPlaceWeight;
  bcv?: Float32Array;
  wco?: InPlaceWeight;
  bco?: Float32Array;
}

export interface DecoderModelParams {
  vocabSize: number;
  E: number;
  H: number;
  Hkv?: number;
  D: number;
  F: number;
  normKind?: 'layer' | 'rms';
  normFirst?: boolean;
  parallel?: boolean;
  parallelSharedNorm?: boolean;
  activation?: 'gelu' | 'gelu_tanh' | 'relu' | 'silu';
  gatedMlp?: boolean;
  scale?: number;
  embeddingScale?: number;
  wordEmbeddings: Float32Array; // [vocabSize, E]
  positionEmbeddings?: Float32Array; // [rows, E]
  positionOffset?: number;
  rotaryDim?: number;
  rotaryInterleaved?: boolean;
  rotaryCos?: Float32Array; // [rows, rotaryDim / 2]
  rotarySin?: Float32Array;
  hasFinalNorm?: boolean;
  finalNormGamma?: Float32Array;
  finalNormBeta?: Float32Array;
  finalNormEps?: number;
  lmHead: InPlaceWeight; // [E, vocab], or [vocab, E] with lmHeadTransposed
  lmHeadTransposed?: boolean;
  lmHeadBias?: Float32Array;
  layers: DecoderLayerParams[];
  /** Encoder-decoder layers (not with parallel): each attends to the step's cross caches. */
  crossAttention?: boolean;
  /** [H, positionBiasRows]: added to the self-attention score of query i and key j at distance i - j (T5). */
  positionBias?: Float32Array;
  positionBiasRows?: number;
  /** x = norm(embeddings) before layer 0 (BART's layernorm_embedding): when gamma or beta is given, or hasEmbeddingNorm. */
  hasEmbeddingNorm?: boolean;
  embeddingNormGamma?: Float32Array;
  embeddingNormBeta?: Float32Array;
  embeddingNormEps?: number;
  /** With the embedding norm: norm(embeddingScale · word) + position (BlenderbotSmall's decoder). */
  embeddingNormBeforePositions?: boolean;
}

export interface NativeKernels {
  scaledDotProductAttention(args: SdpaForwardArgs): void;
  scaledDotProductAttentionGrad(args: SdpaBackwardArgs): void;
  packWeight(weight: Float32Array, rows: number, cols: number): PackedWeight;
  packWeight(args: {weight: Float32Array; rows: number; cols: number}): PackedWeight;
  releaseWeight(handle: PackedWeight): void;
  /** out[M, N] = act(x[M, K] . w[K, N] + bias) + residual (N from w). */
  linear(args: {
    x: Float32Array;
    M: number;
    K: number;
    w: Weight;
    bias?: Float32Array;
    activation?: 'none' | 'relu' | 'gelu' | 'gelu_erf' | 'gelu_tanh' | 'gelu_new';
    residual?: Float32Array;
    out: Float32Array;
  }): void;
  transformerEncoderLayer(args: EncoderInput & EncoderLayerParams): void;
  transformerEncoderStack(args: EncoderInput & {layers: EncoderLayerParams[]}): void;
  info(): {isa: 'avx512_bf16' | 'avx512' | 'avx2' | 'scalar'; threads: number; version: string};
  /** A bfloat16 copy of a [rows=in, cols=out] weight (stored [cols, rows] when transposed). */
  packWeightBf16(weight: Float32Array, rows: number, cols: number, transposed?: boolean): PackedWeight;
  rmsNorm(args: {x: Float32Array; rows: number; cols: number; gamma?: Float32Array; eps?: number; out: Float32Array}): void;
  rotaryEmbedding(args: {x: Float32Array; positions: Int32Array; B: number; H: number; S: number; D: number;
    rotaryDim: number; interleaved?: boolean; cos: Float32Array; sin: Float32Array; out: Float32Array}): void;
  /** The caches are appended to in place. */
  attentionWithKVCache(args: {q: Float32Array; k: Float32Array; v: Float32Array; keyCache: Float32Array;
    valueCache: Float32Array; pastLengths: Int32Array; newLengths: Int32Array; out: Float32Array; lengths?: Int32Array;
    B: number; H: number; Hkv?: number; N: number; C: number; D: number; Dv?: number; scale?: number}): void;
  /**
   * One decoder step; the caches [layers, B, Hkv, C, D] are appended to in place. With model.crossAttention: the
   * cross caches [layers, B, Hkv, S, D] are read, after being computed in place from encoderStates [B, S, E] when
   * it is given; sourceMask [B, S] (nonzero = real; every row needs one) or all real.
   */
  transformerDecoderStack(args: {model: DecoderModelParams; inputIds: Int32Array; pastLengths: Int32Array;
    newLengths: Int32Array; B: number; N: number; C: number; keyCache: Float32Array; valueCache: Float32Array;
    logitsRows?: 'last' | 'all'; logits: Float32Array; lengths?: Int32Array; S?: number;
    encoderStates?: Float32Array; sourceMask?: Int32Array; crossKeyCache?: Float32Array;
    crossValueCache?: Float32Array}): void;
  /**
   * Beam search: the batch rows of the caches [layers, B, Hkv, C, D] reordered in place, new row b = old row
   * sourceRows[b] (its first lengths[sourceRows[b]] positions); lengths (in/out) reordered the same way.
   */
  reorderCache(args: {keyCache: Float32Array; valueCache: Float32Array; lengths: Int32Array; sourceRows: Int32Array;
    layers: number; B: number; Hkv: number; C: number; D: number}): void;
}
