// Flash-style attention on the CPU: keys visited in tiles with an online
// softmax (memory O(tile), never O(Sq * Sk)), masks applied inside the tile
// loop, causally dead keys never visited; parallel over (batch, head, query
// block). The backward recomputes probabilities from the forward's lse.
// Hot loops are compiled per ISA (AVX-512, AVX2+FMA, baseline) by the compiler.
#include "attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "gemm.h"
#include "isa_clones.h"
#include "parallel.h"

namespace bt {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

BT_ISA_CLONES
float Dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

BT_ISA_CLONES
void Axpy(float alpha, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// A strided matrix view: element (i, d) at base[i * row_stride + d].
struct View {
  const float* base;
  int64_t row_stride;
  const float* row(int64_t i) const { return base + i * row_stride; }
};

struct HeadProblem {
  int64_t q_seq, k_seq, depth, value_depth;
  float scale;
  bool causal;
  int64_t causal_shift;
  MaskKind mask_kind;
  const void* mask;  // already offset to this (b, h)
  int64_t mask_row_stride, mask_col_stride;
  const uint8_t* key_valid;  // already offset to this batch row, or null
};

inline int64_t VisibleKeyEnd(const HeadProblem& p, int64_t i) {
  if (!p.causal) return p.k_seq;
  return std::max<int64_t>(0, std::min<int64_t>(p.k_seq, i + p.causal_shift + 1));
}

inline float MaskedScore(const HeadProblem& p, const float* q_row, const View& k, int64_t i, int64_t j) {
  if (p.key_valid && !p.key_valid[j]) return kNegInf;
  float s = Dot(q_row, k.row(j), p.depth) * p.scale;
  if (p.mask_kind == MaskKind::kBool) {
    if (!static_cast<const uint8_t*>(p.mask)[i * p.mask_row_stride + j * p.mask_col_stride]) return kNegInf;
  } else if (p.mask_kind == MaskKind::kAdditive) {
    s += static_cast<const float*>(p.mask)[i * p.mask_row_stride + j * p.mask_col_stride];
  }
  return s;
}

constexpr int64_t kKeyTile = 64;   // keys per tile
constexpr int64_t kQueryBlock = 32;  // query rows sharing each K/V tile

// exp on an array, vectorisable: 2^n * p(r) with a degree-7 polynomial on
// r = x - n ln2 (relative error about 1 ulp). Inputs below -87.3 (masked
// scores are -inf) give exactly 0; NaN stays NaN.
inline void ExpInPlace(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float clamped = std::min(88.3762626647949f, std::max(-87.3f, v));
    const float fn = std::floor(clamped * 1.44269504088896341f + 0.5f);
    const float r = clamped - fn * 0.693359375f + fn * 2.12194440e-4f;
    float poly = 1.9875691500e-4f;
    poly = poly * r + 1.3981999507e-3f;
    poly = poly * r + 8.3334519073e-3f;
    poly = poly * r + 4.1665795894e-2f;
    poly = poly * r + 1.6666665459e-1f;
    poly = poly * r + 5.0000001201e-1f;
    poly = poly * r * r + r + 1.f;
    const int32_t bits = (static_cast<int32_t>(fn) + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    const float e = poly * scale;
    x[i] = v != v ? v : (v < -87.3f ? 0.f : e);
  }
}

// Query rows [row_begin, row_end) of one head, in blocks of kQueryBlock rows
// that share each K/V tile: scores for the block come from a small GEMM against
// the transposed K tile (vectorised along keys), then the online-softmax update
// and P·V (vectorised along the value depth). Out rows strided like `out`.
BT_ISA_CLONES
void AttendRows(const HeadProblem& p, const View& q, const View& k, const View& v, float* out, int64_t out_stride,
                float* lse, int64_t row_begin, int64_t row_end) {
  const int64_t depth = p.depth, value_depth = p.value_depth;
  std::vector<float> kt(std::max<int64_t>(depth, 1) * kKeyTile), scores(kQueryBlock * kKeyTile);
  std::vector<float> acc(kQueryBlock * std::max<int64_t>(value_depth, 1));
  float row_max[kQueryBlock], denom[kQueryBlock];
  for (int64_t r0 = row_begin; r0 < row_end; r0 += kQueryBlock) {
    const int64_t rows = std::min(kQueryBlock, row_end - r0);
    std::fill(acc.begin(), acc.begin() + rows * value_depth, 0.f);
    std::fill(row_max, row_max + rows, kNegInf);
    std::fill(denom, denom + rows, 0.f);
    const int64_t block_key_end = VisibleKeyEnd(p, r0 + rows - 1);
    for (int64_t j0 = 0; j0 < block_key_end; j0 += kKeyTile) {
      const int64_t width = std::min(kKeyTile, block_key_end - j0);
      // Kᵀ tile: kt[d][jj], so each query row's scores are axpys along keys.
      for (int64_t jj = 0; jj < width; ++jj) {
        const float* krow = k.row(j0 + jj);
        for (int64_t d = 0; d < depth; ++d) kt[d * kKeyTile + jj] = krow[d];
      }
      // Scores of the whole block against the tile: one small GEMM.
      GemmSerial(rows, width, depth, q.row(r0), q.row_stride, kt.data(), kKeyTile, scores.data(), kKeyTile, false);
      for (int64_t r = 0; r < rows; ++r) {
        const int64_t i = r0 + r;
        float* s = scores.data() + r * kKeyTile;
        const int64_t key_end = VisibleKeyEnd(p, i);
        const bool plain = p.mask_kind == MaskKind::kNone && !p.key_valid && j0 + width <= key_end;
        float tile_max = kNegInf;
        if (plain) {
          for (int64_t jj = 0; jj < width; ++jj) s[jj] *= p.scale;
        } else {
          for (int64_t jj = 0; jj < width; ++jj) {
            const int64_t j = j0 + jj;
            float score = s[jj] * p.scale;
            if (j >= key_end || (p.key_valid && !p.key_valid[j])) {
              score = kNegInf;
            } else if (p.mask_kind == MaskKind::kBool) {
              if (!static_cast<const uint8_t*>(p.mask)[i * p.mask_row_stride + j * p.mask_col_stride]) score = kNegInf;
            } else if (p.mask_kind == MaskKind::kAdditive) {
              score += static_cast<const float*>(p.mask)[i * p.mask_row_stride + j * p.mask_col_stride];
            }
            s[jj] = score;
          }
        }
        // NaN-propagating max: once NaN, the row stays NaN.
        for (int64_t jj = 0; jj < width; ++jj) tile_max = (s[jj] > tile_max || s[jj] != s[jj]) ? s[jj] : tile_max;
        const float old_max = row_max[r];
        const float new_max = old_max != old_max ? old_max :
            (tile_max > old_max || tile_max != tile_max) ? tile_max : old_max;
        if (new_max == kNegInf) {  // every key so far hidden: this row adds nothing
          std::fill(s, s + width, 0.f);
          continue;
        }
        if (!(new_max == old_max)) {
          float* arow = acc.data() + r * value_depth;
          const float rescale = old_max == kNegInf ? 0.f : std::exp(old_max - new_max);
          denom[r] *= rescale;
          for (int64_t d = 0; d < value_depth; ++d) arow[d] *= rescale;
          row_max[r] = new_max;
        }
        for (int64_t jj = 0; jj < width; ++jj) s[jj] -= new_max;
        ExpInPlace(s, width);
        float sum = 0.f;
        for (int64_t jj = 0; jj < width; ++jj) sum += s[jj];
        denom[r] += sum;
      }
      // acc += P · V_tile: the second small GEMM.
      GemmSerial(rows, value_depth, width, scores.data(), kKeyTile, v.row(j0), v.row_stride, acc.data(), value_depth,
                 true);
    }
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = r0 + r;
      float* o = out + i * out_stride;
      const float* arow = acc.data() + r * value_depth;
      if (row_max[r] == kNegInf) {
        std::fill(o, o + value_depth, 0.f);  // no visible key: documented zero row
        if (lse) lse[i] = kNegInf;
      } else {
        const float inv = 1.f / denom[r];
        for (int64_t d = 0; d < value_depth; ++d) o[d] = arow[d] * inv;
        if (lse) lse[i] = row_max[r] + std::log(denom[r]);
      }
    }
  }
}

HeadProblem MakeHead(const AttentionArgs& a, int64_t b, int64_t h) {
  HeadProblem p{};
  p.q_seq = a.q_seq; p.k_seq = a.k_seq; p.depth = a.depth; p.value_depth = a.value_depth;
  p.scale = a.scale; p.causal = a.causal; p.causal_shift = a.k_seq - a.q_seq;
  p.mask_kind = a.mask_kind;
  if (a.mask_kind != MaskKind::kNone) {
    const int64_t offset = b * a.mask_strides[0] + h * a.mask_strides[1];
    p.mask = a.mask_kind == MaskKind::kBool ?
        static_cast<const void*>(static_cast<const uint8_t*>(a.mask) + offset) :
        static_cast<const void*>(static_cast<const float*>(a.mask) + offset);
    p.mask_row_stride = a.mask_strides[2];
    p.mask_col_stride = a.mask_strides[3];
  }
  p.key_valid = a.key_valid ? a.key_valid + b * a.k_seq : nullptr;
  return p;
}

}  // namespace

void AttentionForward(const AttentionArgs& a, float* out, float* lse) {
  const int64_t group = a.heads / a.kv_heads;
  const int64_t row_block = kQueryBlock;
  const int64_t blocks_per_head = (a.q_seq + row_block - 1) / row_block;
  const int64_t items = a.batch * a.heads * blocks_per_head;
  ParallelFor(items, double(row_block) * a.k_seq * (a.depth + a.value_depth), [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t head = item / blocks_per_head, block = item % blocks_per_head;
      const int64_t b = head / a.heads, h = head % a.heads, kv = b * a.kv_heads + h / group;
      const HeadProblem p = MakeHead(a, b, h);
      const View q{a.q + head * a.q_seq * a.depth, a.depth};
      const View k{a.k + kv * a.k_seq * a.depth, a.depth};
      const View v{a.v + kv * a.k_seq * a.value_depth, a.value_depth};
      const int64_t r0 = block * row_block, r1 = std::min(a.q_seq, r0 + row_block);
      AttendRows(p, q, k, v, out + head * a.q_seq * a.value_depth, a.value_depth, lse + head * a.q_seq, r0, r1);
    }
  });
}

void AttentionBackward(const AttentionArgs& a, const float* dout, const float* out, const float* lse,
                       const AttentionGradOutputs& g) {
  const int64_t group = a.heads / a.kv_heads;
  std::fill(g.dk, g.dk + a.batch * a.kv_heads * a.k_seq * a.depth, 0.f);
  std::fill(g.dv, g.dv + a.batch * a.kv_heads * a.k_seq * a.value_depth, 0.f);
  if (g.dmask) std::fill(g.dmask, g.dmask + g.dmask_size, 0.f);
  // Parallel over kv heads of a batch row: the query heads of a group add into the same dk/dv.
  // The broadcast mask gradient may be shared by every head, so it is accumulated serially.
  const bool serial = g.dmask != nullptr;
  ParallelFor(serial ? 1 : a.batch * a.kv_heads, serial ? 0 : 1e9, [&](int64_t begin, int64_t end) {
    const int64_t first = serial ? 0 : begin, last = serial ? a.batch * a.kv_heads : end;
    std::vector<float> dq_row(std::max<int64_t>(a.depth, 1));
    for (int64_t kv_head = first; kv_head < last; ++kv_head) {
      const int64_t b = kv_head / a.kv_heads, kv = kv_head % a.kv_heads;
      for (int64_t h = kv * group; h < (kv + 1) * group; ++h) {
        const int64_t head = b * a.heads + h;
        const HeadProblem p = MakeHead(a, b, h);
        const View q{a.q + head * a.q_seq * a.depth, a.depth};
        const View k{a.k + kv_head * a.k_seq * a.depth, a.depth};
        const View v{a.v + kv_head * a.k_seq * a.value_depth, a.value_depth};
        float* dk = g.dk + kv_head * a.k_seq * a.depth;
        float* dv = g.dv + kv_head * a.k_seq * a.value_depth;
        float* dmask = g.dmask ? g.dmask + b * a.mask_strides[0] + h * a.mask_strides[1] : nullptr;
        for (int64_t i = 0; i < a.q_seq; ++i) {
          const float* q_row = q.row(i);
          const float* do_row = dout + (head * a.q_seq + i) * a.value_depth;
          const float* o_row = out + (head * a.q_seq + i) * a.value_depth;
          const float row_lse = lse[head * a.q_seq + i];
          std::fill(dq_row.begin(), dq_row.end(), 0.f);
          if (row_lse != kNegInf) {
            const float row_dot = Dot(do_row, o_row, a.value_depth);
            const int64_t key_end = VisibleKeyEnd(p, i);
            for (int64_t j = 0; j < key_end; ++j) {
              const float s = MaskedScore(p, q_row, k, i, j);
              if (s == kNegInf) continue;
              const float prob = std::exp(s - row_lse);
              Axpy(prob, do_row, dv + j * a.value_depth, a.value_depth);
              const float dscore = prob * (Dot(do_row, v.row(j), a.value_depth) - row_dot);
              Axpy(dscore * a.scale, k.row(j), dq_row.data(), a.depth);
              Axpy(dscore * a.scale, q_row, dk + j * a.depth, a.depth);
              if (dmask) dmask[i * a.mask_strides[2] + j * a.mask_strides[3]] += dscore;
            }
          }
          std::memcpy(g.dq + (head * a.q_seq + i) * a.depth, dq_row.data(), a.depth * sizeof(float));
        }
      }
    }
  });
}

void AttendPackedSequence(const float* qkv, int64_t length, int64_t embed, int64_t heads, float scale, bool causal,
                          float* out, int64_t head_begin, int64_t head_end) {
  const int64_t dh = embed / heads;
  for (int64_t hd = head_begin; hd < head_end; ++hd) {
    HeadProblem p{};
    p.q_seq = p.k_seq = length;
    p.depth = p.value_depth = dh;
    p.scale = scale;
    p.causal = causal;
    p.causal_shift = 0;
    p.mask_kind = MaskKind::kNone;
    const float* base = qkv + hd * dh;
    AttendRows(p, View{base, 3 * embed}, View{base + embed, 3 * embed}, View{base + 2 * embed, 3 * embed},
               out + hd * dh, embed, nullptr, 0, length);
  }
}

}  // namespace bt
