// Naive double-precision references for the tests: the definitions the fused
// kernels must match, written as plainly as possible.
#ifndef BTK_TEST_REFERENCE_H_
#define BTK_TEST_REFERENCE_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "../../kernels/include/btk.h"

namespace reference {

inline double activate(double x, btk_activation activation) {
  switch (activation) {
    case BTK_ACTIVATION_RELU: return x < 0 ? 0.0 : x;
    case BTK_ACTIVATION_GELU_ERF: return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    case BTK_ACTIVATION_GELU_TANH:
      return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
    case BTK_ACTIVATION_SILU: return x / (1.0 + std::exp(-x));
    default: return x;
  }
}

// c[m][n] = act(sum_k a[m][k] w[k][n] + bias[n]) + residual[m][n]
inline std::vector<double> gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* w,
                                const float* bias, btk_activation activation, const float* residual, int64_t ldr) {
  std::vector<double> c(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double sum = bias ? bias[j] : 0.0;
      for (int64_t p = 0; p < k; ++p) sum += (double)a[i * lda + p] * w[p * n + j];
      c[i * n + j] = activate(sum, activation) + (residual ? residual[i * ldr + j] : 0.0);
    }
  return c;
}

// Scaled, masked scores of (b, h, i, j); -inf when excluded.
inline double score(const btk_sdpa_problem& p, const float* q, const float* k, int64_t b, int64_t h, int64_t i,
                    int64_t j) {
  const int64_t kv_head = h / (p.heads / p.kv_heads);
  const float* q_row = q + ((b * p.heads + h) * p.q_len + i) * p.head_dim;
  const float* k_row = k + ((b * p.kv_heads + kv_head) * p.kv_len + j) * p.head_dim;
  double dot = 0.0;
  for (int64_t d = 0; d < p.head_dim; ++d) dot += (double)q_row[d] * k_row[d];
  double s = p.scale * dot;
  const int64_t mask_at = b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3];
  if (p.mask_kind == BTK_MASK_BOOL && !static_cast<const uint8_t*>(p.mask)[mask_at]) return -INFINITY;
  if (p.mask_kind == BTK_MASK_FLOAT) s += static_cast<const float*>(p.mask)[mask_at];
  if (p.key_padding && !p.key_padding[b * p.kv_len + j]) return -INFINITY;
  if (p.causal && j > i + (p.kv_len - p.q_len)) return -INFINITY;
  return s;
}

struct SdpaResult {
  std::vector<double> out, lse, d_q, d_k, d_v, d_mask;
};

// Forward (out, lse) and, when d_out is given, gradients (d_mask sized mask_extent).
inline SdpaResult sdpa(const btk_sdpa_problem& p, const float* q, const float* k, const float* v, const float* d_out,
                       int64_t mask_extent) {
  SdpaResult r;
  const int64_t B = p.batch, H = p.heads, Sq = p.q_len, Sk = p.kv_len, D = p.head_dim, Dv = p.value_dim;
  r.out.assign(B * H * Sq * Dv, 0.0);
  r.lse.assign(B * H * Sq, -INFINITY);
  r.d_q.assign(B * H * Sq * D, 0.0);
  r.d_k.assign(B * p.kv_heads * Sk * D, 0.0);
  r.d_v.assign(B * p.kv_heads * Sk * Dv, 0.0);
  r.d_mask.assign(mask_extent, 0.0);
  std::vector<double> s(Sk), prob(Sk), d_prob(Sk);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t kv_head = h / (H / p.kv_heads);
      const float* v_head = v + (b * p.kv_heads + kv_head) * Sk * Dv;
      const float* k_head = k + (b * p.kv_heads + kv_head) * Sk * D;
      for (int64_t i = 0; i < Sq; ++i) {
        const int64_t row = (b * H + h) * Sq + i;
        double max = -INFINITY;
        bool any_nan = false;
        for (int64_t j = 0; j < Sk; ++j) {
          s[j] = score(p, q, k, b, h, i, j);
          any_nan |= std::isnan(s[j]);
          if (s[j] > max) max = s[j];
        }
        if (max == -INFINITY && !any_nan) continue;  // no visible key: zeros, lse -inf
        double sum = 0.0;
        for (int64_t j = 0; j < Sk; ++j) sum += (prob[j] = std::exp(s[j] - max));
        r.lse[row] = max + std::log(sum);
        for (int64_t j = 0; j < Sk; ++j) prob[j] /= sum;
        for (int64_t c = 0; c < Dv; ++c) {
          double o = 0.0;
          for (int64_t j = 0; j < Sk; ++j) o += prob[j] * v_head[j * Dv + c];
          r.out[row * Dv + c] = o;
        }
        if (!d_out) continue;
        const float* d_o = d_out + row * Dv;
        double delta = 0.0;
        for (int64_t c = 0; c < Dv; ++c) delta += (double)d_o[c] * r.out[row * Dv + c];
        for (int64_t j = 0; j < Sk; ++j) {
          double dp = 0.0;
          for (int64_t c = 0; c < Dv; ++c) dp += (double)d_o[c] * v_head[j * Dv + c];
          const double ds = prob[j] * (dp - delta);
          for (int64_t c = 0; c < Dv; ++c) r.d_v[((b * p.kv_heads + kv_head) * Sk + j) * Dv + c] += prob[j] * d_o[c];
          for (int64_t d = 0; d < D; ++d) {
            r.d_q[row * D + d] += p.scale * ds * k_head[j * D + d];
            r.d_k[((b * p.kv_heads + kv_head) * Sk + j) * D + d] += p.scale * ds * q[row * D + d];
          }
          if (mask_extent > 0)
            r.d_mask[b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3]] += ds;
        }
      }
    }
  return r;
}

inline void layer_norm(std::vector<double>& x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                       double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    double* row = &x[r * cols];
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < cols; ++c) mean += row[c];
    mean /= cols;
    for (int64_t c = 0; c < cols; ++c) var += (row[c] - mean) * (row[c] - mean);
    var /= cols;
    for (int64_t c = 0; c < cols; ++c) row[c] = (row[c] - mean) / std::sqrt(var + eps) * gamma[c] + beta[c];
  }
}

// RMSNorm as T5 computes it: x / sqrt(mean(x^2) + eps) * gamma (gamma empty = 1).
inline void rms_norm(std::vector<double>& x, int64_t rows, int64_t cols, const std::vector<float>& gamma, double eps) {
  for (int64_t r = 0; r < rows; ++r) {
    double* row = &x[r * cols];
    double squares = 0.0;
    for (int64_t c = 0; c < cols; ++c) squares += row[c] * row[c];
    const double inverse = 1.0 / std::sqrt(squares / cols + eps);
    for (int64_t c = 0; c < cols; ++c) row[c] = row[c] * inverse * (gamma.empty() ? 1.0 : gamma[c]);
  }
}

struct EncoderWeights {  // unpacked, [in, out]; an empty bias, gamma or beta is absent (0, 1, 0)
  int64_t heads;
  std::vector<float> w_qkv, b_qkv, w_o, b_o, g1, be1, g2, be2, w1, b1, w2, b2;
  float eps1, eps2;
  btk_activation activation;
  bool norm_first, causal;
  bool rms = false;          // both norms RMSNorm (no beta)
  bool gated = false;        // MLP w2(act(x wg + bg) * (x w1 + b1)) + b2
  std::vector<float> wg, bg;
  double scale = NAN;        // NaN: 1/sqrt(head dim)
  int64_t ffn = -1;          // F (needed when b1 is empty); -1: b1.size()
};

// The per-head additive attention bias of one sequence: bias[(h * len + i) * len + j] for the
// sequence's original positions, positions[r] = original position of its r-th real token.
struct SequenceBias {
  const float* bias = nullptr;  // [H, len, len] of this sequence (null: none)
  int64_t len = 0;
  std::vector<int64_t> positions;
};

// One layer on one sequence of `len` real tokens, x [len, E] -> [len, E].
inline std::vector<double> encoder_sequence(const EncoderWeights& w, const std::vector<double>& x, int64_t len,
                                            int64_t e, const SequenceBias& bias = SequenceBias()) {
  const int64_t f = w.ffn >= 0 ? w.ffn : static_cast<int64_t>(w.b1.size()), hd = e / w.heads;
  auto matmul = [](const std::vector<double>& a, int64_t m, int64_t k, const std::vector<float>& b, int64_t n,
                   const std::vector<float>& bias) {
    std::vector<double> c(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = bias.empty() ? 0.0 : bias[j];
        for (int64_t p = 0; p < k; ++p) s += a[i * k + p] * b[p * n + j];
        c[i * n + j] = s;
      }
    return c;
  };
  auto norm = [&](std::vector<double>& v, const std::vector<float>& gamma, const std::vector<float>& beta, double eps) {
    if (w.rms) return rms_norm(v, len, e, gamma, eps);
    for (int64_t r = 0; r < len; ++r) {
      double* row = &v[r * e];
      double mean = 0.0, var = 0.0;
      for (int64_t c = 0; c < e; ++c) mean += row[c];
      mean /= e;
      for (int64_t c = 0; c < e; ++c) var += (row[c] - mean) * (row[c] - mean);
      var /= e;
      for (int64_t c = 0; c < e; ++c)
        row[c] = (row[c] - mean) / std::sqrt(var + eps) * (gamma.empty() ? 1.0 : gamma[c]) + (beta.empty() ? 0.0 : beta[c]);
    }
  };
  std::vector<double> attn_in = x;
  if (w.norm_first) norm(attn_in, w.g1, w.be1, w.eps1);
  const std::vector<double> qkv = matmul(attn_in, len, e, w.w_qkv, 3 * e, w.b_qkv);
  std::vector<double> context(len * e, 0.0);
  const double scale = std::isnan(w.scale) ? 1.0 / std::sqrt((double)hd) : w.scale;
  for (int64_t h = 0; h < w.heads; ++h)
    for (int64_t i = 0; i < len; ++i) {
      std::vector<double> s(len);
      double max = -INFINITY;
      for (int64_t j = 0; j < len; ++j) {
        double dot = 0.0;
        for (int64_t d = 0; d < hd; ++d) dot += qkv[i * 3 * e + h * hd + d] * qkv[j * 3 * e + e + h * hd + d];
        s[j] = scale * dot;
        if (bias.bias) s[j] += bias.bias[(h * bias.len + bias.positions[i]) * bias.len + bias.positions[j]];
        if (w.causal && j > i) s[j] = -INFINITY;
        max = std::max(max, s[j]);
      }
      if (max == -INFINITY) continue;  // no visible key: zeros
      double sum = 0.0;
      for (int64_t j = 0; j < len; ++j) sum += (s[j] = std::exp(s[j] - max));
      for (int64_t d = 0; d < hd; ++d) {
        double o = 0.0;
        for (int64_t j = 0; j < len; ++j) o += s[j] / sum * qkv[j * 3 * e + 2 * e + h * hd + d];
        context[i * e + h * hd + d] = o;
      }
    }
  std::vector<double> h1 = matmul(context, len, e, w.w_o, e, w.b_o);
  for (int64_t i = 0; i < len * e; ++i) h1[i] += x[i];
  if (!w.norm_first) norm(h1, w.g1, w.be1, w.eps1);
  std::vector<double> ffn_in = h1;
  if (w.norm_first) norm(ffn_in, w.g2, w.be2, w.eps2);
  std::vector<double> u = matmul(ffn_in, len, e, w.w1, f, w.b1);
  if (w.gated) {
    const std::vector<double> gate = matmul(ffn_in, len, e, w.wg, f, w.bg);
    for (size_t i = 0; i < u.size(); ++i) u[i] *= activate(gate[i], w.activation);
  } else {
    for (auto& value : u) value = activate(value, w.activation);
  }
  std::vector<double> y = matmul(u, len, f, w.w2, e, w.b2);
  for (int64_t i = 0; i < len * e; ++i) y[i] += h1[i];
  if (!w.norm_first) norm(y, w.g2, w.be2, w.eps2);
  return y;
}

}  // namespace reference

#endif  // BTK_TEST_REFERENCE_H_
