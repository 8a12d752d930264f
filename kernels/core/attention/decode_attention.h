// Attention for a few queries per sequence against a long key/value cache
// (decoding; template, instantiated per ISA).
//
// One task = (sequence, kv head): every query head sharing that kv head (GQA)
// and every new query row of the sequence is processed in one pass over the
// keys, so each cached key and value row is read from memory once per step
// whatever the group size. Per key tile: scores by dot products over D, the
// online softmax per query row, then the output rows accumulate p * v. The
// causal rule is bottom-right per sequence (query i sees key j iff
// j <= i + Sk - Sq); keys past a row's limit are never read for that row.
// Key padding (cross-attention over a padded source) and a per-distance
// position bias (T5) are the only other masks.
// Memory per task: the rows' scores for one tile and their output accumulators.
#ifndef BTK_ATTENTION_DECODE_ATTENTION_H_
#define BTK_ATTENTION_DECODE_ATTENTION_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../simd/vector_math.h"
#include "attention_tiles.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

template <class V>
struct DecodeAttention {
  using F = typename V::F;
  static constexpr int W = V::W;
  static constexpr int64_t BK = 64;

  static inline F load_tail(const float* p, int64_t c, int64_t n) {
    return n - c >= W ? V::load(p + c) : V::load_partial(p + c, static_cast<int>(n - c));
  }

  static inline float dot(const float* a, const float* b, int64_t d) {
    F acc = V::zero();
    for (int64_t c = 0; c < d; c += W) acc = V::fmadd(load_tail(a, c, d), load_tail(b, c, d), acc);
    return V::reduce_add(acc);
  }

  // acc[0:n] = acc * rescale + p * v
  static inline void scale_add(float* acc, float rescale, float p, const float* v, int64_t n) {
    const F r = V::set1(rescale), pv = V::set1(p);
    for (int64_t c = 0; c < n; c += W) {
      const F value = V::fmadd(pv, load_tail(v, c, n), V::mul(load_tail(acc, c, n), r));
      if (n - c >= W) V::store(acc + c, value); else V::store_partial(acc + c, value, static_cast<int>(n - c));
    }
  }

  struct Job {
    const AttentionProblem* p;
    const AttentionOperand *q, *k, *v, *out;
    int64_t max_rows;  // group size x longest query count
    bool out_of_memory;
  };

  static void run_task(Job& job, float* scratch, int64_t task) {
    const AttentionProblem& p = *job.p;
    const int64_t b = task / p.kv_heads, kv_head = task % p.kv_heads;
    const int64_t sq = q_len_of(p, b), sk = kv_len_of(p, b);
    if (sq <= 0) return;
    const int64_t group = p.heads / p.kv_heads, rows = group * sq, d = p.head_dim, dv = p.value_dim;
    const int64_t dv_pad = round_up(max_i64(dv, 1), W);
    float* scores = scratch;                 // [rows][BK]
    float* acc = scores + rows * BK;         // [rows][dv_pad]
    float* row_max = acc + rows * dv_pad;    // [rows]
    float* row_sum = row_max + rows;         // [rows]
    memset(acc, 0, sizeof(float) * rows * dv_pad);
    for (int64_t r = 0; r < rows; ++r) { row_max[r] = kMinusInfinity; row_sum[r] = 0.0f; }

    const float* k_base = job.k->data + operand_offset(*job.k, b, kv_head, 0);
    const float* v_base = job.v->data + operand_offset(*job.v, b, kv_head, 0);
    // Row r = (g, i): query head kv_head * group + g, query i; it sees keys [0, limit).
    auto limit = [&](int64_t r) {
      const int64_t i = r % sq;
      return p.causal ? min_i64(sk, max_i64(0, sk - sq + i + 1)) : sk;
    };
    auto q_row = [&](int64_t r) {
      return job.q->data + operand_offset(*job.q, b, kv_head * group + r / sq, r % sq);
    };
    const uint8_t* real = p.key_padding ? p.key_padding + b * p.kv_len : nullptr;
    int64_t end = 0;
    for (int64_t r = 0; r < rows; ++r) end = max_i64(end, limit(r));
    for (int64_t k0 = 0; k0 < end; k0 += BK) {
      const int64_t nk = min_i64(BK, end - k0);
      // Scores: key rows outer, so each key row is read once for all query rows.
      for (int64_t j = 0; j < nk; ++j) {
        const float* key = k_base + (k0 + j) * job.k->row_stride;
        if (real && !real[k0 + j]) {  // a padded key is never read
          for (int64_t r = 0; r < rows; ++r) scores[r * BK + j] = kMinusInfinity;
          continue;
        }
        for (int64_t r = 0; r < rows; ++r)
          scores[r * BK + j] = k0 + j < limit(r) ? p.scale * dot(q_row(r), key, d) : kMinusInfinity;
      }
      if (p.position_bias) {
        for (int64_t r = 0; r < rows; ++r) {
          // Row r's query sits at position i + Sk - Sq; visible keys are at distances >= 0 below the table's end.
          const float* bias = p.position_bias + (kv_head * group + r / sq) * p.position_bias_rows;
          const int64_t position = r % sq + sk - sq;
          for (int64_t j = 0; j < nk; ++j) {
            const int64_t distance = position - (k0 + j);
            if (distance >= 0 && distance < p.position_bias_rows) scores[r * BK + j] += bias[distance];
          }
        }
      }
      // Online softmax per row; scores become probabilities in place (exp(-inf) is exactly 0).
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t visible = min_i64(nk, max_i64(0, limit(r) - k0));
        float* s = scores + r * BK;
        if (visible == 0) continue;
        float tile_max = kMinusInfinity;
        for (int64_t j = 0; j < visible; ++j) tile_max = s[j] > tile_max ? s[j] : tile_max;
        const float new_max = tile_max > row_max[r] ? tile_max : row_max[r];
        // Every score so far -inf: subtract 0 so exp gives 0, not NaN.
        const F shift = V::set1(new_max == kMinusInfinity ? 0.0f : new_max);
        const float factor = row_max[r] == kMinusInfinity ? 0.0f : expf(row_max[r] - new_max);
        F sum = V::zero();
        for (int64_t j = 0; j < nk; j += W) {
          // NaN scores stay NaN and reach the row's sum and output, as in the forward kernel.
          const F prob = vexp<V>(V::sub(load_tail(s, j, nk), shift));
          if (nk - j >= W) V::store(s + j, prob); else V::store_partial(s + j, prob, static_cast<int>(nk - j));
          sum = V::add(sum, nk - j >= W ? prob : V::load_partial(s + j, static_cast<int>(nk - j)));
        }
        row_sum[r] = row_sum[r] * factor + V::reduce_add(sum);
        row_max[r] = new_max;
        if (factor != 1.0f) {
          float* a = acc + r * dv_pad;
          for (int64_t c = 0; c < dv; ++c) a[c] *= factor;
        }
      }
      // P . V: value rows outer, read once for all query rows; a row reads only the values it sees.
      for (int64_t j = 0; j < nk; ++j) {
        const float* value = v_base + (k0 + j) * job.v->row_stride;
        if (real && !real[k0 + j]) continue;
        for (int64_t r = 0; r < rows; ++r)
          if (k0 + j < limit(r)) scale_add(acc + r * dv_pad, 1.0f, scores[r * BK + j], value, dv);
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = kv_head * group + r / sq, i = r % sq;
      float* dst = const_cast<float*>(job.out->data) + operand_offset(*job.out, b, h, i);
      const float inverse = row_sum[r] == 0.0f ? 0.0f : 1.0f / row_sum[r];
      for (int64_t c = 0; c < dv; ++c) dst[c] = acc[r * dv_pad + c] * inverse;
    }
  }

  static bool run(const AttentionProblem& p, const AttentionOperand& q, const AttentionOperand& k,
                  const AttentionOperand& v, const AttentionOperand& out) {
    int64_t longest = 0;
    for (int64_t b = 0; b < p.batch; ++b) longest = max_i64(longest, q_len_of(p, b));
    const int64_t group = p.kv_heads > 0 ? p.heads / p.kv_heads : 0;
    Job job{&p, &q, &k, &v, &out, group * longest, false};
    if (job.max_rows == 0) return true;
    const int64_t dv_pad = round_up(max_i64(p.value_dim, 1), W);
    auto body = [&job, dv_pad](int64_t begin, int64_t end) {
      ScratchFloats scratch(job.max_rows * (BK + dv_pad + 2) + 64);
      if (!scratch.data) { job.out_of_memory = true; return; }
      for (int64_t task = begin; task < end; ++task) run_task(job, scratch.data, task);
    };
    parallel_for_each(p.batch * p.kv_heads, 1, body);
    return !job.out_of_memory;
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_ATTENTION_DECODE_ATTENTION_H_
