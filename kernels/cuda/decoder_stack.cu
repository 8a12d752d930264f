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
//
// Encoder-decoder models (T5, BART, Marian): the cross caches are first filled
// from the encoder states when they are given (per layer one GEMM per
// projection over all B x S source rows, split into heads by a copy kernel
// unless Hkv = 1, where the product's rows are the cache's); each layer runs,
// after its self-attention, the cross block: its norm (pre-norm), the query
// GEMM into the QKV buffer, attention of the new rows over the layer's cross
// cache without the causal rule (the source mask as key padding, the same
// kernels as the self-attention), the output GEMM with the residual, the norm
// (post-norm). T5's position bias is an additive per-(head, distance) term of
// the self-attention scores: the decode kernel reads the bias row directly; the
// tiled kernels read it as an additive mask through strides (B·H·L, L, 1, -1)
// over a per-(sequence, head) table laid out by distance, built once per step.
// An embedding norm (BART) runs on the embedded rows before layer 0.
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
  bool tf32;  // prompt attention on TF32 tensor cores ('high', and 'medium': its kernel needs fixed sizes)
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
  bool non_causal;             // cross-attention: every key of the sequence (no causal rule)
  const uint8_t* key_valid;    // [B, capacity] nonzero = real key, or null
  const float* position_bias;  // [heads, bias_rows] (decode kernel), or null
  int64_t bias_rows;
  const float* bias_table;     // the tiled kernels' bias table (LaunchPositionBiasTable), or null
  int64_t bias_width;          // its rows: capacity + max_q
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
    p.non_causal = c.non_causal;
    p.key_valid = c.key_valid; p.key_valid_ld = c.capacity;
    p.position_bias = c.position_bias; p.bias_rows = c.bias_rows;
    return LaunchDecodeAttention(p, stream);
  }
  AttentionParams p{};
  p.batch = c.batch; p.heads = c.heads; p.kv_heads = c.kv_heads;
  p.q_seq = c.max_q; p.k_seq = static_cast<int>(c.capacity);
  p.depth = c.head_dim; p.value_depth = c.value_dim;
  p.scale = c.scale;
  p.causal = !c.non_causal;
  p.q = c.q; p.k = c.k; p.v = c.v; p.out = c.out;
  p.q_sb = c.q_sb; p.q_sh = c.q_sh; p.q_ss = c.q_ss;
  p.k_sb = c.k_sb; p.k_sh = c.k_sh; p.k_ss = c.k_ss;
  p.v_sb = c.v_sb; p.v_sh = c.v_sh; p.v_ss = c.v_ss;
  p.o_sb = c.o_sb; p.o_sh = c.o_sh; p.o_ss = c.o_ss;
  p.q_lens = c.q_lens; p.k_lens = c.k_lens; p.q_row0 = c.q_row0;
  p.key_valid = c.key_valid;  // indexed b * k_seq + j: k_seq is the capacity
  if (c.bias_table) {
    // Element (b, h, i, j) at bias_table + capacity + b·H·L + h·L + i - j (the causal rule keeps
    // i - j >= -past_b, and the kernels read the mask of visible (row, key) pairs only).
    p.mask_kind = 2;
    p.mask = c.bias_table + c.capacity;
    p.mask_strides[0] = c.heads * c.bias_width;
    p.mask_strides[1] = c.bias_width;
    p.mask_strides[2] = 1;
    p.mask_strides[3] = -1;
  }
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
  c.max_q = plan.max_q; c.capacity = C; c.scale = a.scale; c.tf32 = a.precision != BT_CUDA_PRECISION_HIGHEST;
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
  plan.bias_table = m.position_bias != nullptr && plan.max_q > kDecodeMaxQueries;
  plan.cross = m.cross_attention != 0;
  if (plan.cross) {
    const int64_t S = s.source_len;
    plan.cross_k_lens.assign(static_cast<size_t>(B), static_cast<int>(S));
    if (s.source_mask_host) {
      plan.key_valid.resize(static_cast<size_t>(B * S));
      for (int64_t e = 0; e < B * S; ++e) plan.key_valid[static_cast<size_t>(e)] = s.source_mask_host[e] != 0 ? 1 : 0;
    }
    if (plan.max_q <= kDecodeMaxQueries) plan.cross_splits = DecodeSplits(B, m.num_heads, m.num_kv_heads, plan.max_q, S);
    plan.fill_cross = s.encoder_states != nullptr && m.num_layers * B * S > 0;
  }
  return plan;
}

namespace {

struct DecoderBuffers {
  float *x, *h, *attn, *qkv, *ctx, *ffn1, *ffn2, *sel, *logits, *partial;
  int *row_ids, *row_pos, *row_seq, *first_row, *q_lens, *k_lens, *selected, *logits_source;
  float *cross_rows, *bias_table;  // the encoder states' products (Hkv > 1); the tiled attention's bias table
  int* cross_k_lens;
  uint8_t* key_valid;
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
  b.partial = w.Take<float>(std::max(DecodePartialFloats(s.batch, m.num_heads, plan.max_q, m.head_dim, plan.splits),
                                     DecodePartialFloats(s.batch, m.num_heads, plan.max_q, m.head_dim,
                                                         plan.cross ? plan.cross_splits : 1)));
  b.row_ids = w.Take<int>(T);
  b.row_pos = w.Take<int>(T);
  b.row_seq = w.Take<int>(T);
  b.first_row = w.Take<int>(plan.first_row.size());
  b.q_lens = w.Take<int>(plan.q_lens.size());
  b.k_lens = w.Take<int>(plan.k_lens.size());
  b.selected = w.Take<int>(S);
  b.logits_source = w.Take<int>(plan.direct ? 0 : plan.logits_source.size());
  const size_t B = static_cast<size_t>(s.batch), source = static_cast<size_t>(s.source_len);
  const size_t kv_width = static_cast<size_t>(m.num_kv_heads * m.head_dim);
  b.cross_rows = w.Take<float>(plan.fill_cross && m.num_kv_heads > 1 ? B * source * kv_width : 0);
  b.bias_table = w.Take<float>(plan.bias_table ? B * static_cast<size_t>(m.num_heads) *
                                                     static_cast<size_t>(s.capacity + plan.max_q)
                                               : 0);
  b.cross_k_lens = w.Take<int>(plan.cross_k_lens.size());
  b.key_valid = w.Take<uint8_t>(plan.key_valid.size());
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
  const bool all = s.logits_rows == BT_CUDA_LOGITS_ALL, tf32 = m.precision != BT_CUDA_PRECISION_HIGHEST;
  const GemmMath math = GemmMathFor(m.precision);
  const int64_t logit_rows = all ? B * N : B;
  const auto cuda_ok = [&](cudaError_t err, const char* what) { return CudaOk(err, what, error); };
  const auto gemm_ok = [&](cublasStatus_t st) {
    if (st == CUBLAS_STATUS_SUCCESS) return true;
    *error = "cuBLASLt: " + *error + " (status " + std::to_string(static_cast<int>(st)) + ")";
    return false;
  };
  const auto gemm = [&](int64_t n, int64_t k, const float* x, int64_t ldx, const float* w, const float* bias,
                        const float* residual, float* y, int64_t ldy, GemmEpilogue ep, bool transposed = false) {
    return gemm_ok(GemmRowMajor(lt, T, n, k, x, ldx, w, bias, residual, y, ldy, ep, math, stream, error, transposed));
  };
  const auto norm = [&](const float* x, const float* gamma, const float* beta, float eps, float* y, int64_t rows) {
    return cuda_ok(LaunchNormRows(m.norm_kind, x, gamma, beta, eps, y, rows, static_cast<int>(E), stream), "norm");
  };

  DecoderBuffers buf{};
  CarveDecoder(m, s, plan, workspace, &buf);
  // Encoder-decoder: each layer's cross keys and values from the encoder states (also on a step without
  // new tokens), through the GEMM path over all B x S source rows.
  const int64_t source = s.source_len, cross_stride = B * Hkv * source * D;
  if (plan.fill_cross) {
    for (int64_t l = 0; l < m.num_layers; ++l) {
      const bt_cuda_decoder_layer& L = m.layers[l];
      float* caches[2] = {s.cross_key_cache + l * cross_stride, s.cross_value_cache + l * cross_stride};
      const float* weights[2] = {L.cross_k_weight, L.cross_v_weight};
      const float* biases[2] = {L.cross_k_bias, L.cross_v_bias};
      for (int c = 0; c < 2; ++c) {
        // One kv head: the product's rows are the cache's rows.
        float* out = Hkv == 1 ? caches[c] : buf.cross_rows;
        if (!gemm_ok(GemmRowMajor(lt, B * source, kv_width, E, s.encoder_states, E, weights[c], biases[c], nullptr, out,
                                  kv_width, GemmEpilogue::kBias, math, stream, error))) {
          return BT_CUDA_CUBLAS_ERROR;
        }
        if (Hkv > 1 && !cuda_ok(LaunchSplitCrossHeads(buf.cross_rows, kv_width, caches[c], static_cast<int>(B),
                                                      static_cast<int>(Hkv), source, static_cast<int>(D), stream),
                                "filling the cross caches")) {
          return BT_CUDA_RUNTIME_ERROR;
        }
      }
    }
  }
  if (T == 0) {
    const size_t bytes = static_cast<size_t>(logit_rows * V) * sizeof(float);
    return bytes == 0 || cuda_ok(cudaMemsetAsync(s.logits, 0, bytes, stream), "zeroing the logits")
               ? BT_CUDA_OK : BT_CUDA_RUNTIME_ERROR;
  }
  if (!Upload(buf.row_ids, plan.row_ids, stream, error) || !Upload(buf.row_pos, plan.row_pos, stream, error) ||
      !Upload(buf.row_seq, plan.row_seq, stream, error) || !Upload(buf.first_row, plan.first_row, stream, error) ||
      !Upload(buf.q_lens, plan.q_lens, stream, error) || !Upload(buf.k_lens, plan.k_lens, stream, error) ||
      !Upload(buf.selected, plan.selected, stream, error) ||
      (!plan.direct && !Upload(buf.logits_source, plan.logits_source, stream, error)) ||
      !Upload(buf.cross_k_lens, plan.cross_k_lens, stream, error)) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  if (!plan.key_valid.empty() &&
      !cuda_ok(cudaMemcpyAsync(buf.key_valid, plan.key_valid.data(), plan.key_valid.size(), cudaMemcpyHostToDevice,
                               stream), "uploading the source mask")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  // Embeddings: word * scale + position, normed after the sum (BART) or, with
  // embedding_norm_before_positions, the word part alone with the positions added after (BlenderbotSmall).
  const bool norm_words_alone = m.has_embedding_norm && m.embedding_norm_before_positions;
  if (!cuda_ok(LaunchEmbedRows(buf.row_ids, buf.row_pos, m.word_embeddings,
                               norm_words_alone ? nullptr : m.position_embeddings, m.position_offset,
                               m.embedding_scale, buf.x, T, static_cast<int>(E), stream), "embeddings")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  if (m.has_embedding_norm &&
      !norm(buf.x, m.embedding_norm_gamma, m.embedding_norm_beta, m.embedding_norm_eps, buf.x, T)) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  if (norm_words_alone && m.position_embeddings &&
      !cuda_ok(LaunchAddPositionRows(buf.row_pos, m.position_embeddings, m.position_offset, buf.x, T,
                                     static_cast<int>(E), stream), "position embeddings")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  // T5's position bias, for the tiled kernels: one table per step, shared by the layers.
  if (plan.bias_table &&
      !cuda_ok(LaunchPositionBiasTable(m.position_bias, m.position_bias_rows, buf.q_lens, buf.k_lens, buf.bias_table,
                                       static_cast<int>(B), static_cast<int>(H), C, plan.max_q, stream),
               "position bias table")) {
    return BT_CUDA_RUNTIME_ERROR;
  }
  const int64_t layer_stride = B * Hkv * C * D;
  // The step's new queries (packed rows from buf.first_row, H heads of D, row stride q_ss) attending
  // over `rows` cached keys and values per sequence ([B, Hkv, rows, D]); the context goes to ctx.
  const auto over_cache = [&](const float* q, int64_t q_ss, const float* k, const float* v, int64_t rows,
                              const int* k_lens, int splits) {
    CachedAttention c{};
    c.batch = static_cast<int>(B); c.heads = static_cast<int>(H); c.kv_heads = static_cast<int>(Hkv);
    c.head_dim = c.value_dim = static_cast<int>(D);
    c.max_q = plan.max_q; c.capacity = rows; c.scale = m.attention_scale; c.tf32 = tf32;
    c.q = q; c.q_ss = q_ss; c.q_sh = D; c.q_sb = 0;
    c.out = buf.ctx; c.o_ss = q_width; c.o_sh = D; c.o_sb = 0;
    c.q_row0 = buf.first_row;
    c.k = k; c.k_ss = D; c.k_sh = rows * D; c.k_sb = Hkv * rows * D;
    c.v = v; c.v_ss = D; c.v_sh = rows * D; c.v_sb = Hkv * rows * D;
    c.q_lens = buf.q_lens; c.k_lens = k_lens;
    c.splits = splits; c.partial = buf.partial;
    return c;
  };
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
    CachedAttention c = over_cache(buf.qkv, qkv_width, key_cache, value_cache, C, buf.k_lens, plan.splits);
    c.position_bias = m.position_bias; c.bias_rows = m.position_bias ? m.position_bias_rows : 0;
    c.bias_table = plan.bias_table ? buf.bias_table : nullptr; c.bias_width = C + plan.max_q;
    if (!cuda_ok(RunCachedAttention(c, stream), "attention")) return BT_CUDA_RUNTIME_ERROR;
    // attn = x + ctx . Wo + bo
    if (!gemm(E, q_width, buf.ctx, q_width, L.out_weight, L.out_bias, buf.x, buf.attn, E, GemmEpilogue::kBias))
      return BT_CUDA_CUBLAS_ERROR;
    const bool post_norm = !m.norm_first && !m.parallel;
    if (post_norm && !norm(buf.attn, L.norm1_gamma, L.norm1_beta, L.norm1_eps, buf.attn, T))
      return BT_CUDA_RUNTIME_ERROR;
    if (plan.cross) {
      // attn += cross(nc(attn)) (pre-norm) or attn = nc(attn + cross(attn)) (post-norm); x is free here.
      const float* cross_in = buf.attn;
      if (m.norm_first) {
        if (!norm(buf.attn, L.cross_norm_gamma, L.cross_norm_beta, L.cross_norm_eps, buf.h, T))
          return BT_CUDA_RUNTIME_ERROR;
        cross_in = buf.h;
      }
      // Queries [T, H D] into the QKV buffer (row stride H D), the context into ctx.
      if (!gemm(q_width, E, cross_in, E, L.cross_q_weight, L.cross_q_bias, nullptr, buf.qkv, q_width,
                GemmEpilogue::kBias))
        return BT_CUDA_CUBLAS_ERROR;
      CachedAttention ca = over_cache(buf.qkv, q_width, s.cross_key_cache + l * cross_stride,
                                      s.cross_value_cache + l * cross_stride, source, buf.cross_k_lens,
                                      plan.cross_splits);
      ca.non_causal = true;
      ca.key_valid = plan.key_valid.empty() ? nullptr : buf.key_valid;
      if (!cuda_ok(RunCachedAttention(ca, stream), "cross-attention")) return BT_CUDA_RUNTIME_ERROR;
      // x = attn + ctx . Wco + bco, then nc(x) or x itself back into attn.
      if (!gemm(E, q_width, buf.ctx, q_width, L.cross_out_weight, L.cross_out_bias, buf.attn, buf.x, E,
                GemmEpilogue::kBias))
        return BT_CUDA_CUBLAS_ERROR;
      if (m.norm_first ? !cuda_ok(cudaMemcpyAsync(buf.attn, buf.x, static_cast<size_t>(T * E) * sizeof(float),
                                                  cudaMemcpyDeviceToDevice, stream), "cross-attention residual")
                       : !norm(buf.x, L.cross_norm_gamma, L.cross_norm_beta, L.cross_norm_eps, buf.attn, T))
        return BT_CUDA_RUNTIME_ERROR;
    }
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
      mlp_in = buf.attn;  // n1(x + attn) (and the cross block's output) already
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
                            math, stream, error, m.lm_head_transposed != 0))) {
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
