// Building blocks shared by the attention forward and backward templates:
// packing query/key/value tiles into the layouts the micro-kernel reads, and
// applying the masks to a score tile. Masks are applied element by element
// (any strides are legal), so they are written once for both tile orientations:
// element (query i, key j) of a tile lives at tile[i * query_step + j * key_step].
#ifndef BTK_ATTENTION_ATTENTION_TILES_H_
#define BTK_ATTENTION_ATTENTION_TILES_H_

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "../gemm/gemm_driver.h"
#include "../gemm/pack_transposed.h"  // queries and keys into [D][rows] tiles
#include "../kernel_table.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

constexpr float kMinusInfinity = -INFINITY;

// rows x cols into dst with row stride dst_ld >= cols, columns past cols zeroed.
static inline void pack_rows_padded(const float* src, int64_t row_stride, int64_t rows, int64_t cols, float* dst,
                                    int64_t dst_ld) {
  for (int64_t r = 0; r < rows; ++r) {
    if (cols > 0) memcpy(dst + r * dst_ld, src + r * row_stride, static_cast<size_t>(cols) * sizeof(float));
    for (int64_t c = cols; c < dst_ld; ++c) dst[r * dst_ld + c] = 0.0f;
  }
}

// Keys [k0, k0 + nk) of batch b contain at least one real (unpadded) key.
static inline bool key_tile_has_real_key(const AttentionProblem& p, int64_t b, int64_t k0, int64_t nk) {
  if (!p.key_padding) return true;
  const uint8_t* real = p.key_padding + b * p.kv_len + k0;
  for (int64_t j = 0; j < nk; ++j)
    if (real[j]) return true;
  return false;
}

// The real-key flags of keys [k0, k0 + nk) of batch b when at least one of
// them is padding, else null. Padded keys are never read: whatever their k and
// v hold (NaN included) must not reach any output or gradient, so the tiles
// that hold one use copies with those rows zeroed (a probability of exactly 0
// times NaN would still be NaN).
static inline const uint8_t* padded_keys_in_tile(const AttentionProblem& p, int64_t b, int64_t k0, int64_t nk) {
  if (!p.key_padding) return nullptr;
  const uint8_t* real = p.key_padding + b * p.kv_len + k0;
  for (int64_t j = 0; j < nk; ++j)
    if (!real[j]) return real;
  return nullptr;
}

// pack_rows_padded, then rows of padded keys (real[r] == 0) set to zero.
static inline void pack_real_rows(const float* src, int64_t row_stride, int64_t rows, int64_t cols, float* dst,
                                  int64_t dst_ld, const uint8_t* real) {
  pack_rows_padded(src, row_stride, rows, cols, dst, dst_ld);
  for (int64_t r = 0; r < rows; ++r)
    if (!real[r]) memset(dst + r * dst_ld, 0, static_cast<size_t>(dst_ld) * sizeof(float));
}

// One past the last key any query in [q0, q0 + nq) may see (causal limit).
static inline int64_t visible_key_end(const AttentionProblem& p, int64_t q0, int64_t nq, int64_t sq, int64_t sk) {
  if (!p.causal) return sk;
  const int64_t end = q0 + nq + (sk - sq);  // last query's limit + 1
  return end < 0 ? 0 : (end > sk ? sk : end);
}

static inline int64_t mask_index(const AttentionProblem& p, int64_t b, int64_t h, int64_t i, int64_t j) {
  return b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3];
}

// Scores of queries [q0, q0 + nq) x keys [k0, k0 + nk) of (b, h): the attn mask
// first (a float mask is added), then exclusions (-inf) from key padding and
// causality, so an excluded key stays excluded whatever the float mask holds.
static inline void apply_masks(float* tile, int64_t query_step, int64_t key_step, const AttentionProblem& p,
                               int64_t b, int64_t h, int64_t q0, int64_t nq, int64_t k0, int64_t nk, int64_t sq,
                               int64_t sk) {
  if (p.mask_kind != BTK_MASK_NONE) {
    // The inner loop walks the mask along its smaller stride: a mask row can be
    // large and come from memory, while the tile is in L1 whatever the order
    // (walking a [.., Sq, Sk] mask down a column would also alias cache sets).
    const bool queries_inner = p.mask_strides[2] < p.mask_strides[3];
    const int64_t outer_count = queries_inner ? nk : nq, inner_count = queries_inner ? nq : nk;
    const int64_t outer_tile_step = queries_inner ? key_step : query_step;
    const int64_t inner_tile_step = queries_inner ? query_step : key_step;
    const int64_t outer_mask_step = queries_inner ? p.mask_strides[3] : p.mask_strides[2];
    const int64_t inner_mask_step = queries_inner ? p.mask_strides[2] : p.mask_strides[3];
    const int64_t first = mask_index(p, b, h, q0, k0);
    if (p.mask_kind == BTK_MASK_BOOL) {
      const uint8_t* mask = static_cast<const uint8_t*>(p.mask) + first;
      for (int64_t o = 0; o < outer_count; ++o) {
        float* row = tile + o * outer_tile_step;
        const uint8_t* mask_row = mask + o * outer_mask_step;
        if (inner_mask_step == 0) {  // broadcast along the inner dimension: one test per row
          if (!mask_row[0])
            for (int64_t n = 0; n < inner_count; ++n) row[n * inner_tile_step] = kMinusInfinity;
          continue;
        }
        for (int64_t n = 0; n < inner_count; ++n)
          row[n * inner_tile_step] = mask_row[n * inner_mask_step] ? row[n * inner_tile_step] : kMinusInfinity;
      }
    } else {
      const float* mask = static_cast<const float*>(p.mask) + first;
      for (int64_t o = 0; o < outer_count; ++o) {
        float* row = tile + o * outer_tile_step;
        const float* mask_row = mask + o * outer_mask_step;
        if (inner_mask_step == 0) {
          const float bias = mask_row[0];
          for (int64_t n = 0; n < inner_count; ++n) row[n * inner_tile_step] += bias;
          continue;
        }
        for (int64_t n = 0; n < inner_count; ++n) row[n * inner_tile_step] += mask_row[n * inner_mask_step];
      }
    }
  }
  if (p.position_bias) {
    // Distances past the table's ends belong to keys the causal rule hides below.
    const float* bias = p.position_bias + h * p.position_bias_rows;
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t j = 0; j < nk; ++j) {
        const int64_t distance = q0 + i + (sk - sq) - (k0 + j);
        if (distance >= 0 && distance < p.position_bias_rows) tile[i * query_step + j * key_step] += bias[distance];
      }
  }
  if (p.score_bias) {
    // One bias row per query, read along the keys (contiguous when no key in the tile was
    // padding); the tile is in L1 whatever the order.
    const int64_t len = p.score_bias_len;
    const float* head_bias = p.score_bias + b * p.score_bias_batch_stride + h * len * len;
    const int64_t* positions = p.score_bias_positions ? p.score_bias_positions + p.score_bias_first_row[b] : nullptr;
    for (int64_t i = 0; i < nq; ++i) {
      const float* row = head_bias + (positions ? positions[q0 + i] : q0 + i) * len;
      float* scores = tile + i * query_step;
      if (positions)
        for (int64_t j = 0; j < nk; ++j) scores[j * key_step] += row[positions[k0 + j]];
      else
        for (int64_t j = 0; j < nk; ++j) scores[j * key_step] += row[k0 + j];
    }
  }
  if (p.key_padding) {
    const uint8_t* real = p.key_padding + b * p.kv_len + k0;
    for (int64_t j = 0; j < nk; ++j)
      if (!real[j])
        for (int64_t i = 0; i < nq; ++i) tile[i * query_step + j * key_step] = kMinusInfinity;
  }
  if (p.causal) {
    const int64_t offset = sk - sq;
    for (int64_t i = 0; i < nq; ++i) {
      const int64_t first_hidden = q0 + i + offset + 1 - k0;  // tile column of the first key query i may not see
      for (int64_t j = first_hidden < 0 ? 0 : first_hidden; j < nk; ++j) tile[i * query_step + j * key_step] = kMinusInfinity;
    }
  }
}

// Every key tile of every (batch, kv head) packed transposed ([D][BK], zero
// padded) once per call, instead of once per query tile that reads it: the
// transposition is scalar work that would otherwise cost ~10% of the forward.
// Memory is the size of K (never Sq x Sk).
template <int64_t BK>
struct TransposedKeys {
  ScratchArray<int64_t> first_tile;  // per batch, in tiles, including all kv heads of earlier batches
  ScratchFloats tiles;
  int64_t head_dim, kv_heads;
  bool ok;

  static int64_t total_tiles(const AttentionProblem& p) {
    int64_t total = 0;
    for (int64_t b = 0; b < p.batch; ++b) total += ceil_div(kv_len_of(p, b), BK) * p.kv_heads;
    return total;
  }

  TransposedKeys(const AttentionProblem& p, const AttentionOperand& k)
      : first_tile(p.batch + 1), tiles(total_tiles(p) * p.head_dim * BK), head_dim(p.head_dim), kv_heads(p.kv_heads) {
    ok = first_tile.data && tiles.data;
    if (!ok) return;
    int64_t longest = 0;
    first_tile.data[0] = 0;
    for (int64_t b = 0; b < p.batch; ++b) {
      first_tile.data[b + 1] = first_tile.data[b] + ceil_div(kv_len_of(p, b), BK) * p.kv_heads;
      longest = max_i64(longest, kv_len_of(p, b));
    }
    const int64_t tiles_per_head = ceil_div(longest, BK);
    auto body = [&](int64_t begin, int64_t end) {
      for (int64_t index = begin; index < end; ++index) {
        const int64_t b = index / (p.kv_heads * tiles_per_head), kv_head = (index / tiles_per_head) % p.kv_heads;
        const int64_t k0 = (index % tiles_per_head) * BK, sk = kv_len_of(p, b);
        if (k0 >= sk) continue;
        pack_transposed(k.data + operand_offset(k, b, kv_head, k0), k.row_stride, min_i64(BK, sk - k0), p.head_dim, 1.0f,
                        tile(p, b, kv_head, k0), BK);
      }
    };
    parallel_for_each(p.batch * p.kv_heads * tiles_per_head, 4, body);
  }

  float* tile(const AttentionProblem& p, int64_t b, int64_t kv_head, int64_t k0) const {
    const int64_t tiles_per_head = ceil_div(kv_len_of(p, b), BK);
    return tiles.data + (first_tile.data[b] + kv_head * tiles_per_head + k0 / BK) * head_dim * BK;
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_ATTENTION_ATTENTION_TILES_H_
