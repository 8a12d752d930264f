// Exact (erf) GELU in place, after a GEMM whose epilogue already added the bias:
// cuBLASLt's GELU epilogue is the tanh approximation, used for 'gelu_tanh' only.
#include <cmath>

#include "encoder_kernels.h"

namespace btc {
namespace {

__global__ void GeluErfKernel(float* x, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  }
}

}  // namespace

cudaError_t LaunchGeluErf(float* x, int64_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  const int64_t blocks = (n + 255) / 256;
  GeluErfKernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(x, n);
  return cudaGetLastError();
}

}  // namespace btc
