/**
 * One transformer encoder layer on packed rows (padding already removed), in
 * plain TypeScript. Post-norm (BERT):
 *   h = LN1(x + Attn(x)·Wo + bo);  y = LN2(h + act(h·W1 + b1)·W2 + b2)
 * Pre-norm (GPT-2, ViT):
 *   h = x + Attn(LN1(x))·Wo + bo;  y = h + act(LN2(h)·W1 + b1)·W2 + b2
 */
import {EncoderActivation} from '../op_table';
import {activationFunction} from './activations';
import {HeadProblem} from './attention_views';
import {attentionForwardHead, ForwardScratch} from './flash_attention_forward';
import {gemm} from './gemm';
import {layerNormRows} from './layer_norm';
import {TokenPacking} from './token_packing';

export type QkvProjection =
    {packed: true; weight: Float32Array; bias: Float32Array} |
    {packed: false; weights: [Float32Array, Float32Array, Float32Array]; biases: [Float32Array, Float32Array, Float32Array]};

export interface EncoderLayerParams {
  embed: number;
  ffn: number;
  numHeads: number;
  normFirst: boolean;
  activation: EncoderActivation;
  eps1: number;
  eps2: number;
  isCausal: boolean;
  scale: number;
  qkv: QkvProjection;
  outWeight: Float32Array; outBias: Float32Array;
  ln1Gamma: Float32Array; ln1Beta: Float32Array;
  ln2Gamma: Float32Array; ln2Beta: Float32Array;
  ffnInWeight: Float32Array; ffnInBias: Float32Array;
  ffnOutWeight: Float32Array; ffnOutBias: Float32Array;
}

function projectQkv(input: Float32Array, tokens: number, p: EncoderLayerParams): Float32Array {
  const e = p.embed;
  const qkv = new Float32Array(tokens * 3 * e);
  if (p.qkv.packed) {
    gemm(input, tokens, e, p.qkv.weight, 3 * e, {values: qkv, offset: 0, rowStride: 3 * e},
         {bias: p.qkv.bias});
  } else {
    for (let part = 0; part < 3; part++) {
      gemm(input, tokens, e, p.qkv.weights[part], e, {values: qkv, offset: part * e, rowStride: 3 * e},
           {bias: p.qkv.biases[part]});
    }
  }
  return qkv;
}

/** Self-attention of every packed sequence over its own real tokens only. */
function attendPacked(qkv: Float32Array, plan: TokenPacking, p: EncoderLayerParams): Float32Array {
  const e = p.embed, headDim = e / p.numHeads;
  const out = new Float32Array(plan.tokens * e);
  const scratch = new ForwardScratch(headDim);
  for (let b = 0; b < plan.batch; b++) {
    const start = plan.seqStarts[b], length = plan.seqStarts[b + 1] - start;
    if (length === 0) continue;
    const problem: HeadProblem = {
      querySeq: length, keySeq: length, depth: headDim, valueDepth: headDim, scale: p.scale,
      causalShift: p.isCausal ? 0 : null, mask: null, keyValidity: null,
    };
    for (let h = 0; h < p.numHeads; h++) {
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

/** Runs the layer on packed rows [tokens, E] and returns new packed rows. */
export function encoderLayerPacked(x: Float32Array, plan: TokenPacking, p: EncoderLayerParams): Float32Array {
  const n = plan.tokens, e = p.embed, f = p.ffn;
  const act = activationFunction(p.activation);

  let attnInput = x;
  if (p.normFirst) {
    attnInput = new Float32Array(n * e);
    layerNormRows(x, n, e, p.ln1Gamma, p.ln1Beta, p.eps1, attnInput);
  }
  const attn = attendPacked(projectQkv(attnInput, n, p), plan, p);
  // h = x + attn·Wo + bo (residual fused into the projection's epilogue).
  const h = new Float32Array(n * e);
  gemm(attn, n, e, p.outWeight, e, {values: h, offset: 0, rowStride: e},
       {bias: p.outBias, residual: x});
  if (!p.normFirst) layerNormRows(h, n, e, p.ln1Gamma, p.ln1Beta, p.eps1, h);

  let ffnInput = h;
  if (p.normFirst) {
    ffnInput = new Float32Array(n * e);
    layerNormRows(h, n, e, p.ln2Gamma, p.ln2Beta, p.eps2, ffnInput);
  }
  const hidden = new Float32Array(n * f);
  gemm(ffnInput, n, e, p.ffnInWeight, f, {values: hidden, offset: 0, rowStride: f},
       {bias: p.ffnInBias, activation: act});
  const y = new Float32Array(n * e);
  gemm(hidden, n, f, p.ffnOutWeight, e, {values: y, offset: 0, rowStride: e},
       {bias: p.ffnOutBias, residual: h});
  if (!p.normFirst) layerNormRows(y, n, e, p.ln2Gamma, p.ln2Beta, p.eps2, y);
  return y;
}
