// The decoding ops composed on the GPU.
//
// Attention over a cache (both ops): the new keys/values are written into the
// cache in place first, then each sequence's new queries attend to its cached
// rows [0, past + i]: the decode kernel (flash decoding, GQA rows sharing each
// key/value tile) when every sequence has at most kDecodeMaxQueries new tokens,
// else the tiled flash-attention kernels of the encoder ('highest' FP32 or
// 'high' TF32) with per-sequence query and key lengths.
//
// A decoder step runs on the packed new tokens [T, E] (padding never enters):
// embeddings; per layer the norm, the QKV GEMM(s) into one [T, (H + 2 Hkv) D]
// buffer, rotary on q and k with the new k/v rows written into the layer's
// cache by the same kernel, attention straight from the QKV buffer into a
// [T, H D] context, the output GEMM with the residual in its epilogue, the MLP
// (plain: up GEMM with the activation in the epilogue where cuBLASLt has it;
// gated: gate and up GEMMs and one act(gate) * up kernel), the down GEMM with
// its residual, in pre-norm, post-norm or parallel form; then the final norm
// and the LM head on the rows whose logits are asked for (each sequence's last
// token, or all), written straight into the logits when their rows line up.
#include "decoder_stack.h"

#include <algorithm>

#include "attention_params.h"
#include "decoder_kernels.h"
#include "encoder_kernels.h"

namespace btc {
namespace {

constexpr size_t kAlign = 256;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Carves a workspace in a fixed order; with a null base it only adds up the sizes.
class Carver {
 public:
  explicit Carver(void* base) : base_(static_cast<char*>(base)) {}
  template <typename T>
  T* Take(size_t count) {
    char* p = base_ ? base_ + at_ : nullptr;
    at_ += AlignUp(count * sizeof(T));
    return reinterpret_cast<T*>(p);
  }
  size_t size() const { return at_; }

 private:
  char* base_;
  size_t at_ = 0;
};

bool CudaOk(cudaError_t err, const char* what, std::string* error) {
  if (err == cudaSuccess) return true;
  *error = std::string(what) + ": " + cudaGetErrorString(err);
  return false;
}

// Host tables to the device in one copy (pageable: staged before cudaMemcpyAsync returns).
bool Upload(int* device, const std::vector<int>& host, cudaStream_t stream, std::string* error) {
  if (host.empty()) return true;
  return CudaOk(cudaMemcpyAsync(device, host.data(), host.size() * sizeof(int), cudaMemcpyHostToDevice, stream),
                "uploading tables", error);
}

// Attention of per-sequence new queries over a cache, the kernel chosen by the longest query run.
struct CachedAttention {
  int batch, heads, kv_heads, head_dim, value_dim, max_q;
  int64_t capacity;
  float scale;
  bool tf32;
  const float* q;
  int64_t q_sb, q_sh, q_ss;
  float* out;
  int64_t o_sb, o_sh, o_ss;
  const int* q_row0;
  const float* k;
  const float* v;
  int64_t k_sb, k_sh, k_ss, v_sb, v_sh, v_ss;
  const int* q_lens;
  const int* k_lens;
  int splits;
  float* partial;
};

cudaError_t RunCachedAttention(const CachedAttention& c, cudaStream_t stream) {
  if (c.max_q == 0) return cudaSuccess;
  if (c.max_q <= kDecodeMaxQueries) {
    DecodeParams p{};
    p.batch = c.batch; p.heads = c.heads; p.kv_heads = c.kv_heads; p.head_dim = c.head_dim;
    p.value_dim = c.value_dim; p.max_q = c.max_q; p.scale = c.scale;
    p.q = c.q; p.q_sb = c.q_sb; p.q_sh = c.q_sh; p.q_ss = c.q_ss;
    p.out = c.out; p.o_sb = c.o_sb; p.o_sh = c.o_sh; p.o_ss = c.o_ss;
    p.q_row0 = c.q_row0;
    p.k = c.k; p.k_sb = c.k_sb; p.k_sh = c.k_sh; p.k_ss = c.k_ss;
    p.v = c.v; p.v_sb = c.v_sb; p.v_sh = c.v_sh; p.v_ss = c.v_ss;
    p.q_lens = c.q_lens; p.k_lens = c.k_lens;
    p.splits = c.splits; p.partial = c.partial;
    return LaunchDecodeAttention(p, stream);
  }
  AttentionParams p{};
  p.batch = c.batch; p.heads = c.heads; p.kv_heads = c.kv_heads;
  p.q_seq = c.max_q; p.k_seq = static_cast<int>(c.capacity);
  p.depth = c.head_dim; p.value_depth = c.value_dim;
  p.scale = c.scale;
  p.causal = true;
  p.q = c.q; p.k = c.k; p.v = c.v; p.out = c.out;
  p.q_sb = c.q_sb; p.q_sh = c.q_sh; p.q_ss = c.q_ss;
  p.k_sb = c.k_sb; p.k_sh = c.k_sh; p.k_ss = c.k_ss;
  p.v_sb = c.v_sb; p.v_sh = c.v_sh; p.v_ss = c.v_ss;
  p.o_sb = c.o_sb; p.o_sh = c.o_sh; p.o_ss = c.o_ss;
  p.q_lens = c.q_lens; p.k_lens = c.k_lens; p.q_row0 = c.q_row0;
  return c.tf32 ? LaunchAttentionForwardTf32(p, stream) : LaunchAttentionForwardFp32(p, stream);
}

}  // namespace

// ---- RotaryEmbedding ----

size_t RotaryWorkspaceBytes(const bt_cuda_rotary_args& a) {
  Carver w(nullptr);
  if (a.rotary_dim > 0) w.Take<int>(static_cast<size_t>(a.batch * a.seq));
  return w.size();
}

int RunRotary(const bt_cuda_rotary_args& a, void* workspace, cudaStream_t stream, std::string* error) {
  const int64_t elements = a.batch * a.heads * a.seq * a.head_dim;
  if (elements == 0) return BT_CUDA_OK;
  if (a.rotary_dim == 0) {
    if (a.y == a.x) return BT_CUDA_OK;
    return CudaOk(cudaMemcpyAsync(a.y, a.x, static_cast<size_t>(elements) * sizeof(float), cudaMemcpyDeviceToDevice,
                                  stream), "copying x", error) ? BT_CUDA_OK : BT_CUDA_RUNTIME_ERROR;
  }
  Carver w(workspace);
  int* positions = w.Take<int>(static_cast<size_t>(a.batch * a.seq));
  const std::vector<int> host(a.positions_host, a.positions_host + a.batch * a.seq);
  if (!Upload(positions, host, stream, error)) return BT_CUDA_RUNTIME_ERROR;
  return CudaOk(LaunchRotary(a.x, positions, a.cos, a.sin, a.y, static_cast<int>(a.batch), static_cast<int>(a.heads),
                             static_cast<int>(a.seq), static_cast<int>(a.head_dim), static_cast<int>(a.rotary_dim),
                             a.interleaved != 0, stream), "rotary", error)
             ? BT_CUDA_OK : BT_CUDA_RUNTIME_ERROR;
}

// ---- AttentionWithKVCache ----

KvCachePlan PlanKvCache(const bt_cuda_kv_cache& a) {
  KvCachePlan plan;
  for (int64_t b = 0; b < a.batch; ++b) {
    plan.max_q = std::max(plan.max_q, static_cast<int>(a.new_lengths_host[b]));
    plan.max_k = std::max<int64_t>(plan.max_k, int64_t{a.past_lengths_host[b]} + a.new_lengths_host[b]);
    plan.ragged = plan.ragged || a.new_lengths_host[b] < a.new_len;
  }
  if (plan.max_q <= kDecodeMaxQueries) {
    plan.splits = DecodeSplits(a.batch, a.heads, a.kv_heads, plan.max_q, plan.max_k);
  }
  return plan;
}

namespace {

struct KvCacheBuffers {
  int* tables;  // past [B] | new [B] | past + new [B]
  float* partial;
};

size_t CarveKvCache(const bt_cuda_kv_cache& a, const KvCachePlan& plan, void* base, KvCacheBuffers* out) {
  Carver w(base);
  KvCacheBuffers b{};
  b.tables = w.Take<int>(static_cast<size_t>(3 * a.batch));
  b.partial = w.Take<float>(DecodePartialFloats(a.batch, a.heads, plan.max_q, a.value_dim, plan.splits));
  if (out) *out = b;
  return w.size();
}

}  // namespace

size_t KvCacheWorkspaceBytes(const bt_cuda_kv_cache& a, const KvCachePlan& plan) {
  return CarveKvCache(a, plan, nullptr, nullptr);
}

int RunKvCache(const bt_cuda_kv_cache& a, const KvCachePlan& plan, void* workspace, cudaStream_t stream,
               std::string* error) {
  if (a.batch * a.kv_heads == 0) return BT_CUDA_OK;
  KvCacheBuffers buf{};
  CarveKvCache(a, plan, workspace, &buf);
  const int64_t B = a.batch;
  std::vector<int> tables(static_cast<size_t>(3 * B));
  for (int64_t b = 0; b < B; ++b) {
    tables[static_cast<size_t>(b)] = a.past_lengths_host[b];
    tables[static_cast<size_t>(B + b)] = a.new_lengths_host[b];
    tables[static_cast<size_t>(2 * B + b)] = a.past_lengths_host[b] + a.new_lengths_host[b];
  }
  if (!Upload(buf.tables, tables, stream, error)) return BT_CUDA_RUNTIME_ERROR;
  const int* past = buf.tables;
  const int* fresh = buf.tables + B;
  const int* k_lens = buf.tables + 2 * B;
  const int64_t H = a.heads, Hkv = a.kv_heads, N = a.new_len, C = a.capacity, D = a.head_dim, Dv = a.value_dim;
  if (!CudaOk(LaunchKvAppend(a.k, a.v, a.key_cache, a.value_cache, past, fresh, static_cast<int>(B),
                             static_cast<int>(Hkv), static_cast<int>(N), C, static_cast<int>(D), static_cast<int>(Dv),
                             stream), "appending to the cache", error)) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  const size_t out_bytes = static_cast<size_t>(B * H * N * Dv) * sizeof(float);
  if (plan.ragged && out_bytes > 0 &&
      !CudaOk(cudaMemsetAsync(a.out, 0, out_bytes, stream), "zeroing the padding rows", error)) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  CachedAttention c{};
  c.batch = static_cast<int>(B); c.heads = static_cast<int>(H); c.kv_heads = static_cast<int>(Hkv);
  c.head_dim = static_cast<int>(D); c.value_dim = static_cast<int>(Dv);
  c.max_q = plan.max_q; c.capacity = C; c.scale = a.scale; c.tf32 = a.precision == BT_CUDA_PRECISION_HIGH;
  c.q = a.q; c.q_ss = D; c.q_sh = N * D; c.q_sb = H * N * D;
  c.out = a.out; c.o_ss = Dv; c.o_sh = N * Dv; c.o_sb = H * N * Dv;
  c.k = a.key_cache; c.k_ss = D; c.k_sh = C * D; c.k_sb = Hkv * C * D;
  c.v = a.value_cache; c.v_ss = Dv; c.v_sh = C * Dv; c.v_sb = Hkv * C * Dv;
  c.q_lens = fresh; c.k_lens = k_lens;
  c.splits = plan.splits; c.partial = buf.partial;
  return CudaOk(RunCachedAttention(c, stream), "attention over the cache", error) ? BT_CUDA_OK
                                                                                   : BT_CUDA_RUNTIME_ERROR;
}

// ---- TransformerDecoderStack ----

DecoderPlan PlanDecoder(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s) {
  DecoderPlan plan;
  const int64_t B = s.batch, N = s.new_len;
  plan.first_row.resize(static_cast<size_t>(B));
  plan.q_lens.resize(static_cast<size_t>(B));
  plan.k_lens.resize(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const int past = s.past_lengths_host[b], fresh = s.new_lengths_host[b];
    plan.first_row[static_cast<size_t>(b)] = static_cast<int>(plan.tokens);
    plan.q_lens[static_cast<size_t>(b)] = fresh;
    plan.k_lens[static_cast<size_t>(b)] = past + fresh;
    plan.max_q = std::max(plan.max_q, fresh);
    plan.max_k = std::max<int64_t>(plan.max_k, past + fresh);
    for (int i = 0; i < fresh; ++i) {
      plan.row_ids.push_back(s.input_ids_host[b * N + i]);
      plan.row_pos.push_back(past + i);
      plan.row_seq.push_back(static_cast<int>(b));
    }
    plan.tokens += fresh;
  }
  const bool all = s.logits_rows == BT_CUDA_LOGITS_ALL;
  const int64_t logit_rows = all ? B * N : B;
  plan.logits_source.assign(static_cast<size_t>(logit_rows), -1);
  for (int64_t b = 0; b < B; ++b) {
    const int first = plan.first_row[static_cast<size_t>(b)], fresh = plan.q_lens[static_cast<size_t>(b)];
    if (all) {
      for (int i = 0; i < fresh; ++i) {
        plan.logits_source[static_cast<size_t>(b * N + i)] = static_cast<int>(plan.selected.size());
        plan.selected.push_back(first + i);
      }
    } else if (fresh > 0) {
      plan.logits_source[static_cast<size_t>(b)] = static_cast<int>(plan.selected.size());
      plan.selected.push_back(first + fresh - 1);
    }
  }
  plan.direct = static_cast<int64_t>(plan.selected.size()) == logit_rows;  // then source[r] == r for every row
  if (plan.max_q <= kDecodeMaxQueries) {
    plan.splits = DecodeSplits(B, m.num_heads, m.num_kv_heads, plan.max_q, plan.max_k);
  }
  return plan;
}

namespace {

struct DecoderBuffers {
  float *x, *h, *attn, *qkv, *ctx, *ffn1, *ffn2, *sel, *logits, *partial;
  int *row_ids, *row_pos, *row_seq, *first_row, *q_lens, *k_lens, *selected, *logits_source;
};

size_t CarveDecoder(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, const DecoderPlan& plan, void* base,
                    DecoderBuffers* out) {
  Carver w(base);
  DecoderBuffers b{};
  const size_t T = static_cast<size_t>(plan.tokens), E = static_cast<size_t>(m.embed_dim),
               F = static_cast<size_t>(m.ffn_dim), S = plan.selected.size(), V = static_cast<size_t>(m.vocab_size);
  const size_t q_width = static_cast<size_t>(m.num_heads * m.head_dim);
  const size_t qkv_width = q_width + 2 * static_cast<size_t>(m.num_kv_heads * m.head_dim);
  const bool all = s.logits_rows == BT_CUDA_LOGITS_ALL;
  b.x = w.Take<float>(T * E);
  b.h = w.Take<float>(T * E);
  b.attn = w.Take<float>(T * E);
  b.qkv = w.Take<float>(T * qkv_width);
  b.ctx = w.Take<float>(T * q_width);
  b.ffn1 = w.Take<float>(T * F);
  b.ffn2 = w.Take<float>(m.gated_mlp ? T * F : 0);
  b.sel = w.Take<float>(all ? 0 : S * E);
  b.logits = w.Take<float>(plan.direct ? 0 : S * V);
  b.partial = w.Take<float>(DecodePartialFloats(s.batch, m.num_heads, plan.max_q, m.head_dim, plan.splits));
  b.row_ids = w.Take<int>(T);
  b.row_pos = w.Take<int>(T);
  b.row_seq = w.Take<int>(T);
  b.first_row = w.Take<int>(plan.first_row.size());
  b.q_lens = w.Take<int>(plan.q_lens.size());
  b.k_lens = w.Take<int>(plan.k_lens.size());
  b.selected = w.Take<int>(S);
  b.logits_source = w.Take<int>(plan.direct ? 0 : plan.logits_source.size());
  if (out) *out = b;
  return w.size();
}

}  // namespace

size_t DecoderWorkspaceBytes(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, const DecoderPlan& plan) {
  return CarveDecoder(m, s, plan, nullptr, nullptr);
}

int RunDecoder(const GemmLt& lt, const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, const DecoderPlan& plan,
               void* workspace, cudaStream_t stream, std::string* error) {
  const int64_t B = s.batch, N = s.new_len, C = s.capacity, T = plan.tokens;
  const int64_t E = m.embed_dim, V = m.vocab_size, F = m.ffn_dim, D = m.head_dim;
  const int64_t H = m.num_heads, Hkv = m.num_kv_heads, q_width = H * D, kv_width = Hkv * D;
  const int64_t qkv_width = q_width + 2 * kv_width;
  const bool all = s.logits_rows == BT_CUDA_LOGITS_ALL, tf32 = m.precision == BT_CUDA_PRECISION_HIGH;
  const int64_t logit_rows = all ? B * N : B;
  const auto cuda_ok = [&](cudaError_t err, const char* what) { return CudaOk(err, what, error); };
  const auto gemm_ok = [&](cublasStatus_t st) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    *error = "cuBLASLt: " + *error + " (status " + std::to_string(static_cast<int>(st)) + ")";
    return false;
  };
  const auto gemm = [&](int64_t n, int64_t k, const float* x, int64_t ldx, const float* w, const float* bias,
                        const float* residual, float* y, int64_t ldy, GemmEpilogue ep, bool transposed = false) {
    return gemm_ok(GemmRowMajor(lt, T, n, k, x, ldx, w, bias, residual, y, ldy, ep, tf32, stream, error, transposed));
  };
  const auto norm = [&](const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t rows) {
    return cuda_ok(LaunchNormRows(m.norm_kind, x, gamma, beta, eps, y, rows, static_cast<int>(E), stream), "norm");
  };

  if (T == 0) {
    const size_t bytes = static_cast<size_t>(logit_rows * V) * sizeof(float);
    return bytes == 0 || cuda_ok(cudaMemsetAsync(s.logits, 0, bytes, stream), "zeroing the logits")
               ? BT_CUDA_OK : BT_CUDA_RUNTIME_ERROR;
  }
  DecoderBuffers buf{};
  CarveDecoder(m, s, plan, workspace, &buf);
  if (!Upload(buf.row_ids, plan.row_ids, stream, error) || !Upload(buf.row_pos, plan.row_pos, stream, error) ||
      !Upload(buf.row_seq, plan.row_seq, stream, error) || !Upload(buf.first_row, plan.first_row, stream, error) ||
      !Upload(buf.q_lens, plan.q_lens, stream, error) || !Upload(buf.k_lens, plan.k_lens, stream, error) ||
      !Upload(buf.selected, plan.selected, stream, error) ||
      (!plan.direct && !Upload(buf.logits_source, plan.logits_source, stream, error))) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  if (!cuda_ok(LaunchEmbedRows(buf.row_ids, buf.row_pos, m.word_embeddings, m.position_embeddings, m.position_offset,
                               m.embedding_scale, buf.x, T, static_cast<int>(E), stream), "embeddings")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  const int64_t layer_stride = B * Hkv * C * D;
  for (int64_t l = 0; l < m.num_layers; ++l) {
    const bt_cuda_decoder_layer& L = m.layers[l];
    // Attention input: x (post-norm) or n1(x).
    const float* attn_in = buf.x;
    if (m.norm_first || m.parallel) {
      if (!norm(buf.x, L.norm1_gamma, L.norm1_beta, L.norm1_eps, buf.h, T)) return BT_CUDA_RUNTIME_ERROR;
      attn_in = buf.h;
    }
    if (L.qkv_weight) {
      if (!gemm(qkv_width, E, attn_in, E, L.qkv_weight, L.qkv_bias, nullptr, buf.qkv, qkv_width, GemmEpilogue::kBias))
        return BT_CUDA_CUBLAS_ERROR;
    } else if (!gemm(q_width, E, attn_in, E, L.q_weight, L.q_bias, nullptr, buf.qkv, qkv_width, GemmEpilogue::kBias) ||
               !gemm(kv_width, E, attn_in, E, L.k_weight, L.k_bias, nullptr, buf.qkv + q_width, qkv_width,
                     GemmEpilogue::kBias) ||
               !gemm(kv_width, E, attn_in, E, L.v_weight, L.v_bias, nullptr, buf.qkv + q_width + kv_width, qkv_width,
                     GemmEpilogue::kBias)) {
      return BT_CUDA_CUBLAS_ERROR;
    }
    float* key_cache = s.key_cache + l * layer_stride;
    float* value_cache = s.value_cache + l * layer_stride;
    if (!cuda_ok(LaunchRotaryAppend(buf.qkv, T, static_cast<int>(H), static_cast<int>(Hkv), static_cast<int>(D),
                                    static_cast<int>(m.rotary_dim), m.rotary_interleaved != 0, m.rotary_cos,
                                    m.rotary_sin, buf.row_pos, buf.row_seq, key_cache, value_cache, C, stream),
                 "rotary and cache append")) {
      return BT_CUDA_RUNTIME_ERROR;
    }
    CachedAttention c{};
    c.batch = static_cast<int>(B); c.heads = static_cast<int>(H); c.kv_heads = static_cast<int>(Hkv);
    c.head_dim = c.value_dim = static_cast<int>(D);
    c.max_q = plan.max_q; c.capacity = C; c.scale = m.attention_scale; c.tf32 = tf32;
    c.q = buf.qkv; c.q_ss = qkv_width; c.q_sh = D; c.q_sb = 0;
    c.out = buf.ctx; c.o_ss = q_width; c.o_sh = D; c.o_sb = 0;
    c.q_row0 = buf.first_row;
    c.k = key_cache; c.k_ss = D; c.k_sh = C * D; c.k_sb = Hkv * C * D;
    c.v = value_cache; c.v_ss = D; c.v_sh = C * D; c.v_sb = Hkv * C * D;
    c.q_lens = buf.q_lens; c.k_lens = buf.k_lens;
    c.splits = plan.splits; c.partial = buf.partial;
    if (!cuda_ok(RunCachedAttention(c, stream), "attention")) return BT_CUDA_RUNTIME_ERROR;
    // attn = x + ctx . Wo + bo
    if (!gemm(E, q_width, buf.ctx, q_width, L.out_weight, L.out_bias, buf.x, buf.attn, E, GemmEpilogue::kBias))
      return BT_CUDA_CUBLAS_ERROR;
    const float* mlp_in;
    const float* residual = buf.attn;
    if (m.parallel) {
      // n2(x) (GPT-NeoX), or n1(x) still in h (GPT-J); the output is x + attn + mlp.
      if (!m.parallel_shared_norm && !norm(buf.x, L.norm2_gamma, L.norm2_beta, L.norm2_eps, buf.h, T))
        return BT_CUDA_RUNTIME_ERROR;
      mlp_in = buf.h;
    } else if (m.norm_first) {
      if (!norm(buf.attn, L.norm2_gamma, L.norm2_beta, L.norm2_eps, buf.h, T)) return BT_CUDA_RUNTIME_ERROR;
      mlp_in = buf.h;
    } else {
      if (!norm(buf.attn, L.norm1_gamma, L.norm1_beta, L.norm1_eps, buf.attn, T)) return BT_CUDA_RUNTIME_ERROR;
      mlp_in = buf.attn;
    }
    if (m.gated_mlp) {
      if (!gemm(F, E, mlp_in, E, L.gate_weight, L.gate_bias, nullptr, buf.ffn1, F, GemmEpilogue::kBias) ||
          !gemm(F, E, mlp_in, E, L.up_weight, L.up_bias, nullptr, buf.ffn2, F, GemmEpilogue::kBias)) {
        return BT_CUDA_CUBLAS_ERROR;
      }
      if (!cuda_ok(LaunchGatedActivation(buf.ffn1, buf.ffn2, T * F, m.activation, stream), "gated activation"))
        return BT_CUDA_RUNTIME_ERROR;
    } else {
      const GemmEpilogue ep = m.activation == BT_CUDA_RELU        ? GemmEpilogue::kBiasRelu
                              : m.activation == BT_CUDA_GELU_TANH ? GemmEpilogue::kBiasGeluTanh
                                                                  : GemmEpilogue::kBias;
      if (!gemm(F, E, mlp_in, E, L.up_weight, L.up_bias, nullptr, buf.ffn1, F, ep)) return BT_CUDA_CUBLAS_ERROR;
      if (ep == GemmEpilogue::kBias && !cuda_ok(LaunchActivation(buf.ffn1, T * F, m.activation, stream), "activation"))
        return BT_CUDA_RUNTIME_ERROR;
    }
    // x = residual + ffn . Wdown + bdown
    if (!gemm(E, F, buf.ffn1, F, L.down_weight, L.down_bias, residual, buf.x, E, GemmEpilogue::kBias))
      return BT_CUDA_CUBLAS_ERROR;
    if (!m.norm_first && !m.parallel && !norm(buf.x, L.norm2_gamma, L.norm2_beta, L.norm2_eps, buf.x, T))
      return BT_CUDA_RUNTIME_ERROR;
  }

  // The rows whose logits are asked for: all of x, or each sequence's last token gathered.
  const int64_t S = static_cast<int64_t>(plan.selected.size());
  float* rows = buf.x;
  if (!all) {
    if (!cuda_ok(LaunchPackRows(buf.x, buf.selected, buf.sel, S, static_cast<int>(E), stream), "selecting rows"))
      return BT_CUDA_RUNTIME_ERROR;
    rows = buf.sel;
  }
  if (m.has_final_norm && !norm(rows, m.final_norm_gamma, m.final_norm_beta, m.final_norm_eps, rows, S))
    return BT_CUDA_RUNTIME_ERROR;
  float* head_out = plan.direct ? s.logits : buf.logits;
  if (!gemm_ok(GemmRowMajor(lt, S, V, E, rows, E, m.lm_head, m.lm_head_bias, nullptr, head_out, V, GemmEpilogue::kBias,
                            tf32, stream, error, m.lm_head_transposed != 0))) {
    return BT_CUDA_CUBLAS_ERROR;
  }
  if (!plan.direct &&
      !cuda_ok(LaunchUnpackRows(buf.logits, buf.logits_source, s.logits, logit_rows, static_cast<int>(V), stream),
               "scattering the logits")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  return BT_CUDA_OK;
}

}  // namespace btc
