#include "cross_attention.h"

#include <cstring>

#include "kv_cache.h"

namespace btk {
namespace {

bool project_into(const KernelTable& kernels, int64_t batch, int64_t source_len, int64_t embed_dim, int64_t kv_heads,
                  int64_t head_dim, const float* x, const WeightView& w, const float* bias, float* cache,
                  float* scratch) {
  const int64_t rows = batch * source_len, width = kv_heads * head_dim;
  // One kv head: the product's rows are the cache's rows.
  if (kv_heads == 1) return kernels.gemm_view(rows, x, embed_dim, w, cache, width, GemmEpilogue{bias, BTK_ACTIVATION_NONE, nullptr, 0});
  if (!kernels.gemm_view(rows, x, embed_dim, w, scratch, width, GemmEpilogue{bias, BTK_ACTIVATION_NONE, nullptr, 0}))
    return false;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t g = 0; g < kv_heads; ++g) {
      float* dst = cache + (b * kv_heads + g) * source_len * head_dim;
      const float* src = scratch + b * source_len * width + g * head_dim;
      for (int64_t s = 0; s < source_len; ++s)
        std::memcpy(dst + s * head_dim, src + s * width, sizeof(float) * head_dim);
    }
  return true;
}

}  // namespace

bool fill_cross_cache(const KernelTable& kernels, int64_t batch, int64_t source_len, int64_t embed_dim,
                      int64_t kv_heads, int64_t head_dim, const float* encoder_states, const WeightView& w_k,
                      const float* b_k, const WeightView& w_v, const float* b_v, float* key_cache,
                      float* value_cache, float* scratch) {
  if (batch * source_len * kv_heads * head_dim == 0) return true;
  return project_into(kernels, batch, source_len, embed_dim, kv_heads, head_dim, encoder_states, w_k, b_k, key_cache,
                      scratch) &&
         project_into(kernels, batch, source_len, embed_dim, kv_heads, head_dim, encoder_states, w_v, b_v,
                      value_cache, scratch);
}

bool cross_attention(const KernelTable& kernels, const CrossAttention& c, const float* q, const int64_t* q_offsets,
                     float* context, const int64_t* context_offsets, int64_t row_stride) {
  const int64_t d = c.head_dim;
  AttentionProblem problem{};
  problem.batch = c.batch;
  problem.heads = c.heads;
  problem.kv_heads = c.kv_heads;
  int64_t longest = 0;
  for (int64_t b = 0; b < c.batch; ++b) longest = longest > c.q_lens[b] ? longest : c.q_lens[b];
  problem.q_len = longest;
  problem.kv_len = c.source_len;
  problem.head_dim = problem.value_dim = d;
  problem.q_lens = c.q_lens;
  problem.kv_lens = nullptr;  // every sequence has source_len rows; padding is masked
  problem.scale = c.scale;
  problem.causal = false;
  problem.mask_kind = BTK_MASK_NONE;
  problem.key_padding = c.key_padding;
  const AttentionOperand query{q, q_offsets, 0, d, row_stride};
  const AttentionOperand keys{c.key_cache, nullptr, c.kv_heads * c.source_len * d, c.source_len * d, d};
  const AttentionOperand values{c.value_cache, nullptr, c.kv_heads * c.source_len * d, c.source_len * d, d};
  const AttentionOperand out{context, context_offsets, 0, d, row_stride};
  return cached_attention(kernels, problem, query, keys, values, out);
}

}  // namespace btk
