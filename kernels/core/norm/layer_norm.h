// LayerNorm over the last dimension (template, instantiated per ISA):
// y = (x - mean) / sqrt(var + eps) * gamma + beta, biased variance, computed in
// two passes over the row (mean, then squared deviations) for accuracy.
// y may alias x. Rows run in parallel.
#ifndef BTK_NORM_LAYER_NORM_H_
#define BTK_NORM_LAYER_NORM_H_

#include <math.h>

#include "../gemm/gemm_driver.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

template <class V>
struct LayerNorm {
  using F = typename V::F;
  static constexpr int W = V::W;

  static inline F load_tail(const float* p, int64_t c, int64_t cols) {
    const int64_t n = cols - c;
    return n >= W ? V::load(p + c) : V::load_partial(p + c, static_cast<int>(n));
  }

  static void row(int64_t cols, const float* x, const float* gamma, const float* beta, float eps, float* y) {
    F sum = V::zero();
    for (int64_t c = 0; c < cols; c += W) sum = V::add(sum, load_tail(x, c, cols));
    const float mean = V::reduce_add(sum) / static_cast<float>(cols);
    const F mean_v = V::set1(mean);
    F squares = V::zero();
    for (int64_t c = 0; c < cols; c += W) {
      // Lanes past the row end read 0; their (0 - mean)^2 must not count.
      const int64_t n = cols - c;
      F dev = V::sub(load_tail(x, c, cols), mean_v);
      if (n < W) dev = V::load_partial(reinterpret_cast<const float*>(&dev), static_cast<int>(n));
      squares = V::fmadd(dev, dev, squares);
    }
    const float inv_std = 1.0f / sqrtf(V::reduce_add(squares) / static_cast<float>(cols) + eps);
    const F scale = V::set1(inv_std);
    for (int64_t c = 0; c < cols; c += W) {
      const int64_t n = cols - c;
      F value = V::mul(V::sub(load_tail(x, c, cols), mean_v), scale);
      value = gamma ? V::mul(value, load_tail(gamma, c, cols)) : value;
      value = beta ? V::add(value, load_tail(beta, c, cols)) : value;
      if (n >= W) V::store(y + c, value); else V::store_partial(y + c, value, static_cast<int>(n));
    }
  }

  static void run(int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* gamma, const float* beta,
                  float eps, float* y, int64_t ldy) {
    if (cols <= 0) return;
    auto body = [=](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) row(cols, x + r * ldx, gamma, beta, eps, y + r * ldy);
    };
    parallel_for_each(rows, max_i64(1, 16384 / cols), body);
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_NORM_LAYER_NORM_H_
