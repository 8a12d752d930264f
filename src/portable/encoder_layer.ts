/**
 * One transformer encoder layer on packed rows (padding already removed), in
 * plain TypeScript. Post-norm (BERT):
 *   h = N1(x + Attn(x)·Wo + bo);  y = N2(h + MLP(h))
 * Pre-norm (GPT-2, ViT, T5):
 *   h = x + Attn(N1(x))·Wo + bo;  y = h + MLP(N2(h))
 * N is LayerNorm or RMSNorm (normKind); MLP(x) = act(x·W1 + b1)·W2 + b2, or
 * gated (T5 v1.1) (act(x·Wg + bg) · (x·W1 + b1))·W2 + b2. Absent biases and
 * betas (null) are 0. The attention bias, when given, is added to the scaled
 * scores at the tokens' original positions.
 */
import {EncoderActivation, EncoderNormKind} from '../op_table';
import {activationFunction} from './activations';
import {HeadProblem, MaskView} from './attention_views';
import {attentionForwardHead, ForwardScratch} from './flash_attention_forward';
import {gemm} from './gemm';
import {layerNormRows} from './layer_norm';
import {rmsNormRows} from './rms_norm';
import {TokenPacking} from './token_packing';

type Bias = Float32Array | null;

export type QkvProjection =
    {packed: true; weight: Float32Array; bias: Bias} |
    {packed: false; weights: [Float32Array, Float32Array, Float32Array]; biases: [Bias, Bias, Bias]};

export interface EncoderLayerParams {
  embed: number;
  ffn: number;
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  normKind: EncoderNormKind;
  eps1: number;
  eps2: number;
  isCausal: boolean;
  scale: number;
  qkv: QkvProjection;
  outWeight: Float32Array; outBias: Bias;
  ln1Gamma: Float32Array; ln1Beta: Bias;
  ln2Gamma: Float32Array; ln2Beta: Bias;
  ffnInWeight: Float32Array; ffnInBias: Bias;
  ffnOutWeight: Float32Array; ffnOutBias: Bias;
  /** The gated MLP's gate projection [E, F] (null: not gated). */
  gateWeight: Float32Array | null; gateBias: Bias;
}

/**
 * An additive attention bias [biasBatch, H, S, S] (biasBatch 1: shared by the
 * batch) over a packing of [B, S]: `positions[r]` is packed row r's original position.
 */
export interface PackedAttentionBias {
  values: Float32Array;
  biasBatch: number;
  positions: Int32Array;
}

/** The original position (0 .. S - 1) of each packed row. */
export function packedPositions(plan: TokenPacking): Int32Array {
  const positions = new Int32Array(plan.tokens);
  for (let r = 0; r < plan.tokens; r++) positions[r] = plan.sourceRows[r] % plan.seq;
  return positions;
}

const orUndefined = (bias: Bias) => bias ?? undefined;

function projectQkv(input: Float32Array, tokens: number, p: EncoderLayerParams): Float32Array {
  const e = p.embed;
  const qkv = new Float32Array(tokens * 3 * e);
  if (p.qkv.packed) {
    gemm(input, tokens, e, p.qkv.weight, 3 * e, {values: qkv, offset: 0, rowStride: 3 * e},
         {bias: orUndefined(p.qkv.bias)});
  } else {
    for (let part = 0; part < 3; part++) {
      gemm(input, tokens, e, p.qkv.weights[part], e, {values: qkv, offset: part * e, rowStride: 3 * e},
           {bias: orUndefined(p.qkv.biases[part])});
    }
  }
  return qkv;
}

/** Self-attention of every packed sequence over its own real tokens only. */
function attendPacked(qkv: Float32Array, plan: TokenPacking, p: EncoderLayerParams,
    bias: PackedAttentionBias | null): Float32Array {
  const e = p.embed, headDim = e / p.numHeads, s = plan.seq;
  const out = new Float32Array(plan.tokens * e);
  const scratch = new ForwardScratch(headDim);
  for (let b = 0; b < plan.batch; b++) {
    const start = plan.seqStarts[b], length = plan.seqStarts[b + 1] - start;
    if (length === 0) continue;
    const positions = bias ? bias.positions.subarray(start, start + length) : undefined;
    for (let h = 0; h < p.numHeads; h++) {
      const mask: MaskView | null = bias === null ? null : {
        kind: 'additive', values: bias.values, offset: ((bias.biasBatch === 1 ? 0 : b) * p.numHeads + h) * s * s,
        rowStride: s, colStride: 1, positions,
      };
      const problem: HeadProblem = {
        querySeq: length, keySeq: length, depth: headDim, valueDepth: headDim, scale: p.scale,
        causalShift: p.isCausal ? 0 : null, mask, keyValidity: null,
      };
      const base = start * 3 * e + h * headDim;
      attentionForwardHead(
          problem,
          {values: qkv, offset: base, rowStride: 3 * e},
          {values: qkv, offset: base + e, rowStride: 3 * e},
          {values: qkv, offset: base + 2 * e, rowStride: 3 * e},
          {values: out, offset: start * e + h * headDim, rowStride: e},
          null, 0, scratch);
    }
  }
  return out;
}

/** The layer's norm of rows [n, E] into out (out may be x). */
function normRows(x: Float32Array, n: number, p: EncoderLayerParams, gamma: Float32Array, beta: Bias, eps: number,
    out: Float32Array): void {
  if (p.normKind === 'rms') rmsNormRows(x, n, p.embed, gamma, eps, out);
  else layerNormRows(x, n, p.embed, gamma, beta ?? new Float32Array(p.embed), eps, out);
}

/** act(x·W1 + b1), or act(x·Wg + bg) · (x·W1 + b1) when gated: [n, F]. */
function mlpHidden(input: Float32Array, n: number, p: EncoderLayerParams): Float32Array {
  const e = p.embed, f = p.ffn;
  const act = activationFunction(p.activation);
  const hidden = new Float32Array(n * f);
  if (p.gateWeight === null) {
    gemm(input, n, e, p.ffnInWeight, f, {values: hidden, offset: 0, rowStride: f},
         {bias: orUndefined(p.ffnInBias), activation: act});
    return hidden;
  }
  gemm(input, n, e, p.gateWeight, f, {values: hidden, offset: 0, rowStride: f},
       {bias: orUndefined(p.gateBias), activation: act});
  const up = new Float32Array(n * f);
  gemm(input, n, e, p.ffnInWeight, f, {values: up, offset: 0, rowStride: f}, {bias: orUndefined(p.ffnInBias)});
  for (let i = 0; i < hidden.length; i++) hidden[i] *= up[i];
  return hidden;
}

/** Runs the layer on packed rows [tokens, E] and returns new packed rows. */
export function encoderLayerPacked(x: Float32Array, plan: TokenPacking, p: EncoderLayerParams,
    bias: PackedAttentionBias | null = null): Float32Array {
  const n = plan.tokens, e = p.embed, f = p.ffn;

  let attnInput = x;
  if (p.normFirst) {
    attnInput = new Float32Array(n * e);
    normRows(x, n, p, p.ln1Gamma, p.ln1Beta, p.eps1, attnInput);
  }
  const attn = attendPacked(projectQkv(attnInput, n, p), plan, p, bias);
  // h = x + attn·Wo + bo (residual fused into the projection's epilogue).
  const h = new Float32Array(n * e);
  gemm(attn, n, e, p.outWeight, e, {values: h, offset: 0, rowStride: e},
       {bias: orUndefined(p.outBias), residual: x});
  if (!p.normFirst) normRows(h, n, p, p.ln1Gamma, p.ln1Beta, p.eps1, h);

  let ffnInput = h;
  if (p.normFirst) {
    ffnInput = new Float32Array(n * e);
    normRows(h, n, p, p.ln2Gamma, p.ln2Beta, p.eps2, ffnInput);
  }
  const hidden = mlpHidden(ffnInput, n, p);
  const y = new Float32Array(n * e);
  gemm(hidden, n, f, p.ffnOutWeight, e, {values: y, offset: 0, rowStride: e},
       {bias: orUndefined(p.ffnOutBias), residual: h});
  if (!p.normFirst) normRows(y, n, p, p.ln2Gamma, p.ln2Beta, p.eps2, y);
  return y;
}
