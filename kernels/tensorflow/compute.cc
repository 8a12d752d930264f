// Straightforward, cache-aware C++ for the TensorFlow CPU kernels: the same
// algorithms as the portable TypeScript kernels (flash-style attention with an
// online softmax, padding removal in the encoder), compiled with per-ISA
// clones so the hot loops get AVX-512 or AVX2 FMA where the CPU has them.
#include "compute.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BT_ISA_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define BT_ISA_CLONES
#endif

namespace bt_tf {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Runs body(begin, end) over [0, n) on up to hardware_concurrency threads;
// inline when the work is small (cost = rough multiply-adds per item).
template <typename Body>
void ParallelFor(int64_t n, double cost_per_item, Body body) {
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  int64_t threads = std::min<int64_t>(hw, n);
  if (threads <= 1 || n * cost_per_item < 2e5) {
    body(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back([=] { body(begin, end); });
  }
  body(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

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

BT_ISA_CLONES
void Scale(float alpha, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] *= alpha;
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

constexpr int64_t kKeyTile = 64;

// Query rows [row_begin, row_end) of one head; out rows strided like `out`.
void AttendRows(const HeadProblem& p, const View& q, const View& k, const View& v, float* out, int64_t out_stride,
                float* lse, int64_t row_begin, int64_t row_end) {
  std::vector<float> acc(std::max<int64_t>(p.value_depth, 1));
  float scores[kKeyTile];
  for (int64_t i = row_begin; i < row_end; ++i) {
    const float* q_row = q.row(i);
    const int64_t key_end = VisibleKeyEnd(p, i);
    float row_max = kNegInf, denom = 0.f;
    std::fill(acc.begin(), acc.end(), 0.f);
    for (int64_t j0 = 0; j0 < key_end; j0 += kKeyTile) {
      const int64_t j1 = std::min(j0 + kKeyTile, key_end);
      float tile_max = kNegInf;
      bool nan = false;
      for (int64_t j = j0; j < j1; ++j) {
        const float s = MaskedScore(p, q_row, k, i, j);
        scores[j - j0] = s;
        if (std::isnan(s)) nan = true;
        tile_max = std::max(tile_max, s);
      }
      const float new_max = nan ? std::numeric_limits<float>::quiet_NaN() : std::max(row_max, tile_max);
      if (new_max == kNegInf) continue;  // every key so far hidden
      if (!(new_max == row_max)) {
        const float rescale = std::exp(row_max - new_max);
        denom *= rescale;
        Scale(rescale, acc.data(), p.value_depth);
        row_max = new_max;
      }
      for (int64_t j = j0; j < j1; ++j) {
        const float w = std::exp(scores[j - j0] - row_max);
        if (w == 0.f) continue;
        denom += w;
        Axpy(w, v.row(j), acc.data(), p.value_depth);
      }
    }
    float* o = out + i * out_stride;
    if (row_max == kNegInf) {
      std::fill(o, o + p.value_depth, 0.f);
      if (lse) lse[i] = kNegInf;
    } else {
      const float inv = 1.f / denom;
      for (int64_t d = 0; d < p.value_depth; ++d) o[d] = acc[d] * inv;
      if (lse) lse[i] = row_max + std::log(denom);
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

// Row-major C[rows, cols] (row stride ldc) = A[rows, inner] · B[inner, cols] + bias,
// then activation, then + residual (same layout as C). Four rows share each B load.
BT_ISA_CLONES
void GemmRows(const float* a, int64_t rows, int64_t inner, const float* b, int64_t cols, float* c, int64_t ldc) {
  constexpr int64_t kCols = 256;
  float acc[4][kCols];
  for (int64_t j0 = 0; j0 < cols; j0 += kCols) {
    const int64_t width = std::min(kCols, cols - j0);
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {
      for (auto& row : acc) std::fill(row, row + width, 0.f);
      for (int64_t kk = 0; kk < inner; ++kk) {
        const float a0 = a[i * inner + kk], a1 = a[(i + 1) * inner + kk];
        const float a2 = a[(i + 2) * inner + kk], a3 = a[(i + 3) * inner + kk];
        const float* brow = b + kk * cols + j0;
        for (int64_t j = 0; j < width; ++j) {
          const float bv = brow[j];
          acc[0][j] += a0 * bv; acc[1][j] += a1 * bv; acc[2][j] += a2 * bv; acc[3][j] += a3 * bv;
        }
      }
      for (int r = 0; r < 4; ++r) std::memcpy(c + (i + r) * ldc + j0, acc[r], width * sizeof(float));
    }
    for (; i < rows; ++i) {
      std::fill(acc[0], acc[0] + width, 0.f);
      for (int64_t kk = 0; kk < inner; ++kk) {
        const float av = a[i * inner + kk];
        const float* brow = b + kk * cols + j0;
        for (int64_t j = 0; j < width; ++j) acc[0][j] += av * brow[j];
      }
      std::memcpy(c + i * ldc + j0, acc[0], width * sizeof(float));
    }
  }
}

float Gelu(float x) { return 0.5f * x * (1.f + std::erf(x * 0.70710678118654752f)); }
float GeluTanh(float x) {
  return 0.5f * x * (1.f + std::tanh(0.79788456080286536f * (x + 0.044715f * x * x * x)));
}


void Dense(const float* a, int64_t rows, int64_t inner, const float* w, const float* bias, int64_t cols, float* c,
           int64_t ldc, const float* residual, Activation act, bool activate) {
  ParallelFor((rows + 3) / 4, 4.0 * inner * cols, [&](int64_t begin, int64_t end) {
    const int64_t r0 = begin * 4, r1 = std::min(rows, end * 4);
    if (r0 >= r1) return;
    GemmRows(a + r0 * inner, r1 - r0, inner, w, cols, c + r0 * ldc, ldc);
    for (int64_t i = r0; i < r1; ++i) {
      float* row = c + i * ldc;
      for (int64_t j = 0; j < cols; ++j) {
        float x = row[j] + bias[j];
        if (activate) x = act == Activation::kGelu ? Gelu(x) : act == Activation::kGeluTanh ? GeluTanh(x) : (x < 0 ? 0 : x);
        if (residual) x += residual[i * ldc + j];
        row[j] = x;
      }
    }
  });
}

void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps,
                   float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * width;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < width; ++j) mean += xr[j];
    mean /= width;
    for (int64_t j = 0; j < width; ++j) var += (xr[j] - mean) * (xr[j] - mean);
    var /= width;
    const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    float* o = out + r * width;
    for (int64_t j = 0; j < width; ++j) o[j] = (xr[j] - static_cast<float>(mean)) * inv * gamma[j] + beta[j];
  }
}

}  // namespace

void AttentionForward(const AttentionArgs& a, float* out, float* lse) {
  const int64_t group = a.heads / a.kv_heads;
  const int64_t row_block = 16;
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

void EncoderLayer(const EncoderLayerArgs& a, float* y) {
  const int64_t e = a.embed, f = a.ffn, heads = a.num_heads, dh = e / heads;
  // Padding removal: the real rows of every sequence, packed in order.
  std::vector<int64_t> source_rows, seq_start(a.batch + 1, 0);
  for (int64_t b = 0; b < a.batch; ++b) {
    seq_start[b] = static_cast<int64_t>(source_rows.size());
    for (int64_t s = 0; s < a.seq; ++s) {
      if (!a.key_valid || a.key_valid[b * a.seq + s]) source_rows.push_back(b * a.seq + s);
    }
  }
  seq_start[a.batch] = static_cast<int64_t>(source_rows.size());
  const int64_t n = seq_start[a.batch];
  std::fill(y, y + a.batch * a.seq * e, 0.f);
  if (n == 0) return;

  std::vector<float> x(n * e), normed(n * e), qkv(n * 3 * e), attn(n * e), h(n * e), hidden(n * f), out(n * e);
  for (int64_t r = 0; r < n; ++r) std::memcpy(&x[r * e], a.x + source_rows[r] * e, e * sizeof(float));

  const float* attn_in = x.data();
  if (a.norm_first) {
    LayerNormRows(x.data(), n, e, a.ln1_gamma, a.ln1_beta, a.eps1, normed.data());
    attn_in = normed.data();
  }
  if (a.qkv_weight) {
    Dense(attn_in, n, e, a.qkv_weight, a.qkv_bias, 3 * e, qkv.data(), 3 * e, nullptr, a.activation, false);
  } else {
    const float* weights[3] = {a.q_weight, a.k_weight, a.v_weight};
    const float* biases[3] = {a.q_bias, a.k_bias, a.v_bias};
    std::vector<float> part(n * e);
    for (int p = 0; p < 3; ++p) {
      Dense(attn_in, n, e, weights[p], biases[p], e, part.data(), e, nullptr, a.activation, false);
      for (int64_t r = 0; r < n; ++r) std::memcpy(&qkv[r * 3 * e + p * e], &part[r * e], e * sizeof(float));
    }
  }
  // Attention of each sequence over its own real tokens, per head.
  ParallelFor(a.batch * heads, 4.0 * a.seq * a.seq * dh, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / heads, hd = item % heads;
      const int64_t start = seq_start[b], length = seq_start[b + 1] - start;
      if (length == 0) continue;
      HeadProblem p{};
      p.q_seq = p.k_seq = length; p.depth = p.value_depth = dh; p.scale = a.scale;
      p.causal = a.causal; p.causal_shift = 0; p.mask_kind = MaskKind::kNone;
      const float* base = qkv.data() + start * 3 * e + hd * dh;
      AttendRows(p, View{base, 3 * e}, View{base + e, 3 * e}, View{base + 2 * e, 3 * e},
                 attn.data() + start * e + hd * dh, e, nullptr, 0, length);
    }
  });
  Dense(attn.data(), n, e, a.out_weight, a.out_bias, e, h.data(), e, x.data(), a.activation, false);
  if (!a.norm_first) LayerNormRows(h.data(), n, e, a.ln1_gamma, a.ln1_beta, a.eps1, h.data());
  const float* ffn_in = h.data();
  if (a.norm_first) {
    LayerNormRows(h.data(), n, e, a.ln2_gamma, a.ln2_beta, a.eps2, normed.data());
    ffn_in = normed.data();
  }
  Dense(ffn_in, n, e, a.ffn_in_weight, a.ffn_in_bias, f, hidden.data(), f, nullptr, a.activation, true);
  Dense(hidden.data(), n, f, a.ffn_out_weight, a.ffn_out_bias, e, out.data(), e, h.data(), a.activation, false);
  if (!a.norm_first) LayerNormRows(out.data(), n, e, a.ln2_gamma, a.ln2_beta, a.eps2, out.data());
  for (int64_t r = 0; r < n; ++r) std::memcpy(y + source_rows[r] * e, &out[r * e], e * sizeof(float));
}

}  // namespace bt_tf
