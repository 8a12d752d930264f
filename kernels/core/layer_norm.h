// Row-wise LayerNorm with biased variance: (x - mean) / sqrt(var + eps) * gamma + beta.
#ifndef TFJS_BT_CORE_LAYER_NORM_H_
#define TFJS_BT_CORE_LAYER_NORM_H_

#include <cstdint>

namespace bt {

// `out` may be `x` (in place).
void LayerNormRows(const float* x, int64_t rows, int64_t width, const float* gamma, const float* beta, float eps,
                   float* out);

}  // namespace bt

#endif  // TFJS_BT_CORE_LAYER_NORM_H_
