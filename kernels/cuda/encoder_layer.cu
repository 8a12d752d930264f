// Post-norm:  h = LN1(x + Attn(x)),        y = LN2(h + FFN(h))
// Pre-norm:   h = x + Attn(LN1(x)),        y = h + FFN(LN2(h))
// Every step runs on the packed [T, E] real tokens; the residual additions
// ride in the GEMM epilogues (beta = 1), LayerNorm is a separate row kernel.
#include "encoder_layer.h"

#include <cstdlib>
#include <cstring>

#include <cuda_bf16.h>

#include "attention_fwd_bf16.h"
#include "attention_params.h"
#include "encoder_kernels.h"

namespace btc {
namespace {

constexpr size_t kAlign = 256;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Carves the workspace into the layer's buffers, in one fixed order.
struct EncoderBuffers {
  float *xp, *qkv, *attn, *h, *hn, *ffn, *outp;
  int *seq_offsets, *row_of_token, *token_of_row;
  void* attention_bf16;  // 'medium': the attention's bfloat16 copies of q, k and v
  __nv_bfloat16 *x_bf16, *w_bf16;  // 'medium' with BT_CUDA_MEDIUM_GEMM=convert: a GEMM's operands
};

// 'medium' GEMMs run cuBLASLt's BF16 compute type on the fp32 operands. BT_CUDA_MEDIUM_GEMM=convert
// converts each GEMM's activations and weight to bfloat16 first and runs a bf16 GEMM with FP32
// compute instead (more scratch, two extra passes, a GEMM on half the bytes): the device check
// times both ways. Read when the workspace is sized and when the layer runs, which must agree.
bool ConvertMediumGemms(const bt_cuda_encoder& e) {
  if (e.precision != BT_CUDA_PRECISION_MEDIUM) return false;
  const char* v = std::getenv("BT_CUDA_MEDIUM_GEMM");
  return v != nullptr && std::strcmp(v, "convert") == 0;
}

// The attention over the packed [T, 3E] QKV buffer (q | k | v column blocks, heads inside each),
// variable lengths through seq_offsets; pointers and offsets are filled in by the caller.
AttentionParams PackedAttention(const bt_cuda_encoder& e, const EncoderPlan& plan) {
  AttentionParams p{};
  const int64_t E = e.embed, dh = E / e.num_heads;
  p.batch = static_cast<int>(e.batch);
  p.heads = p.kv_heads = static_cast<int>(e.num_heads);
  p.q_seq = p.k_seq = plan.max_len;
  p.depth = p.value_depth = static_cast<int>(dh);
  p.scale = e.scale;
  p.causal = e.is_causal != 0;
  p.q_ss = p.k_ss = p.v_ss = 3 * E;
  p.q_sh = p.k_sh = p.v_sh = dh;
  p.o_ss = E;
  p.o_sh = dh;
  return p;
}

size_t AttentionBf16Bytes(const bt_cuda_encoder& e, const EncoderPlan& plan) {
  if (e.precision != BT_CUDA_PRECISION_MEDIUM || plan.tokens == 0) return 0;
  return AttentionBf16WorkspaceBytes(PackedAttention(e, plan), {plan.tokens, plan.tokens});
}

size_t Carve(const bt_cuda_encoder& e, const EncoderPlan& plan, char* base, EncoderBuffers* out) {
  const size_t T = static_cast<size_t>(plan.tokens), E = static_cast<size_t>(e.embed), F = static_cast<size_t>(e.ffn);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    char* p = base ? base + at : nullptr;
    at += AlignUp(bytes);
    return p;
  };
  EncoderBuffers b{};
  b.xp = reinterpret_cast<float*>(take(plan.padded ? T * E * sizeof(float) : 0));
  b.qkv = reinterpret_cast<float*>(take(T * 3 * E * sizeof(float)));
  b.attn = reinterpret_cast<float*>(take(T * E * sizeof(float)));
  b.h = reinterpret_cast<float*>(take(T * E * sizeof(float)));
  b.hn = reinterpret_cast<float*>(take(T * E * sizeof(float)));
  b.ffn = reinterpret_cast<float*>(take(T * F * sizeof(float)));
  b.outp = reinterpret_cast<float*>(take(plan.padded ? T * E * sizeof(float) : 0));
  b.seq_offsets = reinterpret_cast<int*>(take(plan.seq_offsets.size() * sizeof(int)));
  b.row_of_token = reinterpret_cast<int*>(take(plan.row_of_token.size() * sizeof(int)));
  b.token_of_row = reinterpret_cast<int*>(take(plan.token_of_row.size() * sizeof(int)));
  b.attention_bf16 = take(AttentionBf16Bytes(e, plan));
  const bool convert = ConvertMediumGemms(e) && T > 0;
  const size_t widest = E > F ? E : F, largest_weight = 3 * E * E > E * F ? 3 * E * E : E * F;
  b.x_bf16 = reinterpret_cast<__nv_bfloat16*>(take(convert ? T * widest * sizeof(__nv_bfloat16) : 0));
  b.w_bf16 = reinterpret_cast<__nv_bfloat16*>(take(convert ? largest_weight * sizeof(__nv_bfloat16) : 0));
  if (out) *out = b;
  return at;
}

}  // namespace

EncoderPlan PlanEncoder(const bt_cuda_encoder& e) {
  EncoderPlan plan;
  const int64_t B = e.batch, S = e.seq;
  plan.seq_offsets.assign(static_cast<size_t>(B + 1), 0);
  plan.padded = e.key_valid_host != nullptr;
  if (plan.padded) plan.token_of_row.assign(static_cast<size_t>(B * S), -1);
  int64_t t = 0;
  for (int64_t b = 0; b < B; ++b) {
    int len = 0;
    for (int64_t s = 0; s < S; ++s) {
      if (plan.padded) {
        if (e.key_valid_host[b * S + s] == 0) continue;
        plan.token_of_row[static_cast<size_t>(b * S + s)] = static_cast<int>(t);
        plan.row_of_token.push_back(static_cast<int>(b * S + s));
      }
      ++t;
      ++len;
    }
    plan.seq_offsets[static_cast<size_t>(b + 1)] = static_cast<int>(t);
    plan.max_len = len > plan.max_len ? len : plan.max_len;
  }
  plan.tokens = t;
  return plan;
}

size_t EncoderWorkspaceBytes(const bt_cuda_encoder& e, const EncoderPlan& plan) { return Carve(e, plan, nullptr, nullptr); }

int RunEncoderLayer(const GemmLt& lt, const bt_cuda_encoder& e, const EncoderPlan& plan, void* workspace,
                    cudaStream_t stream, std::string* error) {
  const int64_t T = plan.tokens, E = e.embed, F = e.ffn, B = e.batch, S = e.seq;
  const GemmMath math = GemmMathFor(e.precision);
  EncoderBuffers buf{};
  Carve(e, plan, static_cast<char*>(workspace), &buf);
  cudaError_t ce = cudaSuccess;
  auto cuda_ok = [&](cudaError_t err, const char* what) {
    if (err == cudaSuccess) return true;
    *error = std::string(what) + ": " + cudaGetErrorString(err);
    return false;
  };
  auto gemm_ok = [&](cublasStatus_t st) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    *error = "cuBLASLt: " + *error + " (status " + std::to_string(static_cast<int>(st)) + ")";
    return false;
  };
  // y[T, n] = epilogue(x[T, k]·w[k, n] + bias) (+ residual), the way the precision asks for; returns a
  // bt_cuda_status (BT_CUDA_OK is 0).
  const bool convert = ConvertMediumGemms(e);
  auto gemm = [&](int64_t n, int64_t k, const float* x, int64_t ldx, const float* w, const float* bias,
                  const float* residual, float* y, int64_t ldy, GemmEpilogue ep) -> int {
    if (!convert) {
      return gemm_ok(GemmRowMajor(lt, T, n, k, x, ldx, w, bias, residual, y, ldy, ep, math, stream, error))
                 ? BT_CUDA_OK
                 : BT_CUDA_CUBLAS_ERROR;
    }
    if (!cuda_ok(LaunchToBf16Rows(x, T, k, ldx, buf.x_bf16, stream), "bf16 activations") ||
        !cuda_ok(LaunchToBf16Rows(w, k, n, n, buf.w_bf16, stream), "bf16 weights")) {
      return BT_CUDA_RUNTIME_ERROR;
    }
    return gemm_ok(GemmRowMajorBf16Operands(lt, T, n, k, buf.x_bf16, k, buf.w_bf16, bias, residual, y, ldy, ep, stream,
                                            error))
               ? BT_CUDA_OK
               : BT_CUDA_CUBLAS_ERROR;
  };
  // Token tables first (pageable copies are staged before cudaMemcpyAsync returns).
  ce = cudaMemcpyAsync(buf.seq_offsets, plan.seq_offsets.data(), plan.seq_offsets.size() * sizeof(int),
                       cudaMemcpyHostToDevice, stream);
  if (!cuda_ok(ce, "uploading sequence offsets")) return BT_CUDA_RUNTIME_ERROR;
  if (plan.padded && T > 0) {
    ce = cudaMemcpyAsync(buf.row_of_token, plan.row_of_token.data(), plan.row_of_token.size() * sizeof(int),
                         cudaMemcpyHostToDevice, stream);
    if (!cuda_ok(ce, "uploading token rows")) return BT_CUDA_RUNTIME_ERROR;
  }
  if (plan.padded && B * S > 0) {
    ce = cudaMemcpyAsync(buf.token_of_row, plan.token_of_row.data(), plan.token_of_row.size() * sizeof(int),
                         cudaMemcpyHostToDevice, stream);
    if (!cuda_ok(ce, "uploading row tokens")) return BT_CUDA_RUNTIME_ERROR;
  }

  const float* xp = e.x;
  if (plan.padded) {
    if (!cuda_ok(LaunchPackRows(e.x, buf.row_of_token, buf.xp, T, static_cast<int>(E), stream), "pack")) {
      return BT_CUDA_RUNTIME_ERROR;
    }
    xp = buf.xp;
  }
  float* out = plan.padded ? buf.outp : e.y;
  if (T > 0) {
    // Attention input: x itself (post-norm) or LN1(x) (pre-norm).
    const float* attn_in = xp;
    if (e.norm_first) {
      if (!cuda_ok(LaunchLayerNorm(xp, nullptr, nullptr, e.ln1_gamma, e.ln1_beta, e.eps1, buf.hn, T,
                                   static_cast<int>(E), stream), "layer norm 1")) {
        return BT_CUDA_RUNTIME_ERROR;
      }
      attn_in = buf.hn;
    }
    if (e.qkv_weight) {
      const int st = gemm(3 * E, E, attn_in, E, e.qkv_weight, e.qkv_bias, nullptr, buf.qkv, 3 * E, GemmEpilogue::kBias);
      if (st) return st;
    } else {
      const float* ws[3] = {e.q_weight, e.k_weight, e.v_weight};
      const float* bs[3] = {e.q_bias, e.k_bias, e.v_bias};
      for (int i = 0; i < 3; ++i) {
        const int st = gemm(E, E, attn_in, E, ws[i], bs[i], nullptr, buf.qkv + i * E, 3 * E, GemmEpilogue::kBias);
        if (st) return st;
      }
    }
    AttentionParams p = PackedAttention(e, plan);
    p.q = buf.qkv;
    p.k = buf.qkv + E;
    p.v = buf.qkv + 2 * E;
    p.out = buf.attn;
    p.seq_offsets = buf.seq_offsets;
    switch (e.precision) {
      case BT_CUDA_PRECISION_MEDIUM:
        ce = LaunchAttentionForwardBf16(p, {T, T}, buf.attention_bf16, stream);
        break;
      case BT_CUDA_PRECISION_HIGH: ce = LaunchAttentionForwardTf32(p, stream); break;
      default: ce = LaunchAttentionForwardFp32(p, stream); break;
    }
    if (!cuda_ok(ce, "attention")) return BT_CUDA_RUNTIME_ERROR;
    // h = x + attn·Wo + bo (both norms); post-norm then normalises it in place of hn.
    if (const int st = gemm(E, E, buf.attn, E, e.out_weight, e.out_bias, xp, buf.h, E, GemmEpilogue::kBias)) return st;
    const float* ffn_in = buf.hn;
    const float* ffn_residual = e.norm_first ? buf.h : buf.hn;
    const float* ln_gamma = e.norm_first ? e.ln2_gamma : e.ln1_gamma;
    const float* ln_beta = e.norm_first ? e.ln2_beta : e.ln1_beta;
    if (!cuda_ok(LaunchLayerNorm(buf.h, nullptr, nullptr, ln_gamma, ln_beta, e.norm_first ? e.eps2 : e.eps1, buf.hn,
                                 T, static_cast<int>(E), stream), "layer norm")) {
      return BT_CUDA_RUNTIME_ERROR;
    }
    const GemmEpilogue act = e.activation == BT_CUDA_RELU        ? GemmEpilogue::kBiasRelu
                             : e.activation == BT_CUDA_GELU_TANH ? GemmEpilogue::kBiasGeluTanh
                                                                 : GemmEpilogue::kBias;
    if (const int st = gemm(F, E, ffn_in, E, e.ffn_in_weight, e.ffn_in_bias, nullptr, buf.ffn, F, act)) return st;
    if (e.activation == BT_CUDA_GELU && !cuda_ok(LaunchGeluErf(buf.ffn, T * F, stream), "gelu")) {
      return BT_CUDA_RUNTIME_ERROR;
    }
    if (e.norm_first) {
      // y = h + f·W2 + b2, straight into the output.
      const int st =
          gemm(E, F, buf.ffn, F, e.ffn_out_weight, e.ffn_out_bias, ffn_residual, out, E, GemmEpilogue::kBias);
      if (st) return st;
    } else {
      // o = hn + f·W2 + b2 (into h, dead by now), y = LN2(o).
      const int st =
          gemm(E, F, buf.ffn, F, e.ffn_out_weight, e.ffn_out_bias, ffn_residual, buf.h, E, GemmEpilogue::kBias);
      if (st) return st;
      if (!cuda_ok(LaunchLayerNorm(buf.h, nullptr, nullptr, e.ln2_gamma, e.ln2_beta, e.eps2, out, T,
                                   static_cast<int>(E), stream), "layer norm 2")) {
        return BT_CUDA_RUNTIME_ERROR;
      }
    }
  }
  if (plan.padded &&
      !cuda_ok(LaunchUnpackRows(buf.outp, buf.token_of_row, e.y, B * S, static_cast<int>(E), stream), "unpack")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  return BT_CUDA_OK;
}

}  // namespace btc
