#include "layer_norm.h"

#include <cmath>

#include "parallel.h"

namespace bt {

void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps,
                   float* out) {
  ParallelFor(rows, 4.0 * width, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const float* xr = x + r * width;
      // Two passes in double: accurate for rows far from zero mean.
      double mean = 0, var = 0;
      for (int64_t j = 0; j < width; ++j) mean += xr[j];
      mean /= static_cast<double>(width);
      for (int64_t j = 0; j < width; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      var /= static_cast<double>(width);
      const float inv = static_cast<float>(1.0 / std::sqrt(var + eps));
      const float m = static_cast<float>(mean);
      float* o = out + r * width;
      for (int64_t j = 0; j < width; ++j) o[j] = (xr[j] - m) * inv * gamma[j] + beta[j];
    }
  });
}

}  // namespace bt
