// RMSNorm over the last dimension (template, instantiated per ISA), as T5,
// Llama and Mistral compute it in float32:
// y = x / sqrt(mean(x^2) + eps) * gamma. y may alias x. Rows run in parallel.
#ifndef BTK_NORM_RMS_NORM_H_
#define BTK_NORM_RMS_NORM_H_

#include <math.h>

#include "../gemm/gemm_driver.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

template <class V>
struct RmsNorm {
  using F = typename V::F;
  static constexpr int W = V::W;

  static inline F load_tail(const float* p, int64_t c, int64_t cols) {
    const int64_t n = cols - c;
    return n >= W ? V::load(p + c) : V::load_partial(p + c, static_cast<int>(n));
  }

  static void row(int64_t cols, const float* x, const float* gamma, float eps, float* y) {
    F squares = V::zero();
    for (int64_t c = 0; c < cols; c += W) {
      const F value = load_tail(x, c, cols);  // lanes past the row read 0
      squares = V::fmadd(value, value, squares);
    }
    const float inverse_rms = 1.0f / sqrtf(V::reduce_add(squares) / static_cast<float>(cols) + eps);
    const F scale = V::set1(inverse_rms);
    for (int64_t c = 0; c < cols; c += W) {
      const int64_t n = cols - c;
      F value = V::mul(load_tail(x, c, cols), scale);
      if (gamma) value = V::mul(value, load_tail(gamma, c, cols));
      if (n >= W) V::store(y + c, value); else V::store_partial(y + c, value, static_cast<int>(n));
    }
  }

  static void run(int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* gamma, float eps, float* y,
                  int64_t ldy) {
    if (cols <= 0) return;
    auto body = [=](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) row(cols, x + r * ldx, gamma, eps, y + r * ldy);
    };
    parallel_for_each(rows, max_i64(1, 16384 / cols), body);
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_NORM_RMS_NORM_H_
