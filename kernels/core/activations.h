// Element-wise activations of the feed-forward block, applied in place.
#ifndef TFJS_BT_CORE_ACTIVATIONS_H_
#define TFJS_BT_CORE_ACTIVATIONS_H_

#include <cstdint>

#include "gemm.h"

namespace bt {

void ApplyActivation(Activation activation, float* x, int64_t n);

}  // namespace bt

#endif  // TFJS_BT_CORE_ACTIVATIONS_H_
