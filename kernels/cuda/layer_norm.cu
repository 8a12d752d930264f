// LayerNorm over the last dimension with an optional residual input:
// sum = a + b (or a), y = (sum − mean) / sqrt(var + eps) · gamma + beta.
// One warp per row; `sum_out` (optional) keeps a + b for a later residual.
#include <cmath>

#include "encoder_kernels.h"

namespace btc {
namespace {

__global__ void LayerNormKernel(const float* a, const float* b, float* sum_out, const float* gamma,
                                const float* beta, float eps, float* y, int64_t rows, int width) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const float* ar = a + row * width;
  const float* br = b ? b + row * width : nullptr;
  float* sr = sum_out ? sum_out + row * width : nullptr;
  float s = 0.f;
  for (int c = lane; c < width; c += 32) {
    const float x = br ? ar[c] + br[c] : ar[c];
    if (sr) sr[c] = x;
    s += x;
  }
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  const float mean = s / width;
  // Second pass over the (cached) row: the two-pass variance avoids cancellation.
  float v = 0.f;
  for (int c = lane; c < width; c += 32) {
    const float x = (br ? ar[c] + br[c] : ar[c]) - mean;
    v = fmaf(x, x, v);
  }
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  const float inv = rsqrtf(v / width + eps);
  float* yr = y + row * width;
  for (int c = lane; c < width; c += 32) {
    const float x = br ? ar[c] + br[c] : ar[c];
    yr[c] = (x - mean) * inv * gamma[c] + beta[c];
  }
}

}  // namespace

cudaError_t LaunchLayerNorm(const float* a, const float* b, float* sum_out, const float* gamma, const float* beta,
                            float eps, float* y, int64_t rows, int width, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  constexpr int kRowsPerBlock = 8;
  LayerNormKernel<<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock, 0,
                    stream>>>(a, b, sum_out, gamma, beta, eps, y, rows, width);
  return cudaGetLastError();
}

}  // namespace btc
