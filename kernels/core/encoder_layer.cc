// The encoder layer on packed tokens: padding rows are removed first, every
// projection is one GEMM over the real tokens with bias, activation and
// residual fused into its epilogue, attention runs per sequence over its own
// length, and the result is scattered back (padding rows stay 0).
#include "encoder_layer.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "attention.h"
#include "layer_norm.h"
#include "parallel.h"

namespace bt {
namespace {

// C = epilogue(A · W), through W's prepacked copy when there is one.
void Project(int64_t rows, const float* a, int64_t k, const float* weight, const PackedWeight* packed, int64_t n,
             float* c, int64_t ldc, const GemmEpilogue& epilogue) {
  if (packed) {
    GemmPacked(rows, a, k, *packed, c, ldc, epilogue);
  } else {
    Gemm(rows, n, k, a, k, weight, n, c, ldc, epilogue);
  }
}

}  // namespace

void EncoderLayer(const EncoderLayerArgs& a, float* y) {
  const int64_t e = a.embed, f = a.ffn;
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

  // Scratch reused across calls on this thread: allocating and zero-filling
  // fresh buffers (page faults included) cost as much as a small GEMM.
  thread_local std::vector<float> scratch;
  const int64_t need = n * (e * 9 + f);
  if (static_cast<int64_t>(scratch.size()) < need) scratch.resize(need);
  float* base = scratch.data();
  float* const x = base; base += n * e;
  float* const normed = base; base += n * e;
  float* const qkv = base; base += n * 3 * e;
  float* const attn = base; base += n * e;
  float* const h = base; base += n * e;
  float* const hidden = base; base += n * f;
  float* const out = base;
  for (int64_t r = 0; r < n; ++r) std::memcpy(x + r * e, a.x + source_rows[r] * e, e * sizeof(float));

  const float* attn_in = x;
  if (a.norm_first) {
    LayerNormRows(x, n, e, a.ln1_gamma, a.ln1_beta, a.eps1, normed);
    attn_in = normed;
  }
  if (a.qkv_weight) {
    Project(n, attn_in, e, a.qkv_weight, a.packed_qkv, 3 * e, qkv, 3 * e, {a.qkv_bias});
  } else {
    // Separate projections write straight into their column third of the QKV rows.
    const float* weights[3] = {a.q_weight, a.k_weight, a.v_weight};
    const PackedWeight* packed[3] = {a.packed_q, a.packed_k, a.packed_v};
    const float* biases[3] = {a.q_bias, a.k_bias, a.v_bias};
    for (int p = 0; p < 3; ++p) Project(n, attn_in, e, weights[p], packed[p], e, qkv + p * e, 3 * e, {biases[p]});
  }
  // Attention: (sequence, head) pairs in parallel, each over its own real tokens.
  const int64_t heads = a.num_heads;
  ParallelFor(a.batch * heads, 4.0 * a.seq * a.seq * (e / heads), [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t b = item / heads, hd = item % heads;
      const int64_t start = seq_start[b], length = seq_start[b + 1] - start;
      if (length > 0) {
        AttendPackedSequence(qkv + start * 3 * e, length, e, heads, a.scale, a.causal,
                             attn + start * e, hd, hd + 1);
      }
    }
  });
  GemmEpilogue out_proj{a.out_bias, Activation::kNone, x, e};
  Project(n, attn, e, a.out_weight, a.packed_out, e, h, e, out_proj);
  if (!a.norm_first) LayerNormRows(h, n, e, a.ln1_gamma, a.ln1_beta, a.eps1, h);
  const float* ffn_in = h;
  if (a.norm_first) {
    LayerNormRows(h, n, e, a.ln2_gamma, a.ln2_beta, a.eps2, normed);
    ffn_in = normed;
  }
  Project(n, ffn_in, e, a.ffn_in_weight, a.packed_ffn_in, f, hidden, f, {a.ffn_in_bias, a.activation});
  GemmEpilogue ffn_out{a.ffn_out_bias, Activation::kNone, h, e};
  Project(n, hidden, f, a.ffn_out_weight, a.packed_ffn_out, e, out, e, ffn_out);
  if (!a.norm_first) LayerNormRows(out, n, e, a.ln2_gamma, a.ln2_beta, a.eps2, out);
  for (int64_t r = 0; r < n; ++r) std::memcpy(y + source_rows[r] * e, out + r * e, e * sizeof(float));
}

}  // namespace bt
