#include "kv_cache.h"

#include <cmath>
#include <cstring>
#include <new>
#include <vector>

namespace btk {

bool cached_attention(const KernelTable& kernels, const AttentionProblem& problem, const AttentionOperand& q,
                      const AttentionOperand& k, const AttentionOperand& v, const AttentionOperand& out) {
  int64_t longest = 0;
  for (int64_t b = 0; b < problem.batch; ++b) longest = longest > q_len_of(problem, b) ? longest : q_len_of(problem, b);
  if (longest <= kDecodeAttentionMaxQueries) return kernels.decode_attention(problem, q, k, v, out);
  return kernels.attention_forward(problem, q, k, v, out, nullptr);
}

namespace {

bool problem_is_valid(const btk_kv_cache_problem& p) {
  if (p.batch < 0 || p.heads < 0 || p.kv_heads < 0 || p.new_len < 0 || p.capacity < 0 || p.head_dim < 0 ||
      p.value_dim < 0)
    return false;
  if (p.heads > 0 && (p.kv_heads <= 0 || p.heads % p.kv_heads != 0)) return false;
  if (p.batch > 0 && (!p.past_lengths || !p.new_lengths)) return false;
  if (!std::isfinite(p.scale)) return false;
  for (int64_t b = 0; b < p.batch; ++b) {
    const int64_t past = p.past_lengths[b], fresh = p.new_lengths[b];
    if (past < 0 || fresh < 0 || fresh > p.new_len || past + fresh > p.capacity) return false;
  }
  return true;
}

}  // namespace

btk_status run_attention_with_kv_cache(const KernelTable& kernels, const btk_kv_cache_problem& p, const float* q,
                                       const float* k, const float* v, float* key_cache, float* value_cache,
                                       float* out, int32_t* lengths) {
  if (!problem_is_valid(p)) return BTK_INVALID_ARGUMENT;
  const int64_t d = p.head_dim, dv = p.value_dim, n = p.new_len, cap = p.capacity;
  if (p.batch > 0 && !lengths) return BTK_INVALID_ARGUMENT;
  if (p.batch * p.heads * n * dv > 0 && !out) return BTK_INVALID_ARGUMENT;
  if (p.batch * p.heads * n * d > 0 && !q) return BTK_INVALID_ARGUMENT;
  if (p.batch * p.kv_heads * n > 0 && ((d > 0 && !k) || (dv > 0 && !v))) return BTK_INVALID_ARGUMENT;
  if (p.batch * p.kv_heads * cap > 0 && ((d > 0 && !key_cache) || (dv > 0 && !value_cache))) return BTK_INVALID_ARGUMENT;
  try {
    std::vector<int64_t> q_lens(p.batch), kv_lens(p.batch);
    for (int64_t b = 0; b < p.batch; ++b) {
      const int64_t past = p.past_lengths[b], fresh = p.new_lengths[b];
      q_lens[b] = fresh;
      kv_lens[b] = past + fresh;
      lengths[b] = static_cast<int32_t>(past + fresh);
      // The new rows into the caches; padding rows (i >= fresh) are never read.
      for (int64_t g = 0; g < p.kv_heads; ++g) {
        const int64_t src = (b * p.kv_heads + g) * n, dst = (b * p.kv_heads + g) * cap + past;
        if (fresh > 0 && d > 0) std::memcpy(key_cache + dst * d, k + src * d, sizeof(float) * fresh * d);
        if (fresh > 0 && dv > 0) std::memcpy(value_cache + dst * dv, v + src * dv, sizeof(float) * fresh * dv);
      }
      // Query rows past the sequence's new tokens output zeros (none when N = fresh: `out` may then be
      // empty, with no address, and memset must not get a null pointer even for 0 bytes).
      if (dv > 0 && n > fresh)
        for (int64_t h = 0; h < p.heads; ++h)
          std::memset(out + ((b * p.heads + h) * n + fresh) * dv, 0, sizeof(float) * (n - fresh) * dv);
    }
    if (p.batch * p.heads * n == 0 || dv == 0) return BTK_OK;
    AttentionProblem problem{};
    problem.batch = p.batch;
    problem.heads = p.heads;
    problem.kv_heads = p.kv_heads;
    problem.q_len = n;
    problem.kv_len = cap;
    problem.head_dim = d;
    problem.value_dim = dv;
    problem.q_lens = q_lens.data();
    problem.kv_lens = kv_lens.data();
    problem.scale = p.scale;
    problem.causal = true;
    problem.mask_kind = BTK_MASK_NONE;
    const AttentionOperand q_operand{q, nullptr, p.heads * n * d, n * d, d};
    const AttentionOperand k_operand{key_cache, nullptr, p.kv_heads * cap * d, cap * d, d};
    const AttentionOperand v_operand{value_cache, nullptr, p.kv_heads * cap * dv, cap * dv, dv};
    const AttentionOperand out_operand{out, nullptr, p.heads * n * dv, n * dv, dv};
    return cached_attention(kernels, problem, q_operand, k_operand, v_operand, out_operand) ? BTK_OK
                                                                                           : BTK_OUT_OF_MEMORY;
  } catch (const std::bad_alloc&) {
    return BTK_OUT_OF_MEMORY;
  }
}

}  // namespace btk
