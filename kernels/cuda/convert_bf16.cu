// fp32 rows to a contiguous bfloat16 matrix (round to nearest even): the operands of the
// 'medium' GEMMs when they are converted before cuBLASLt (BT_CUDA_MEDIUM_GEMM=convert).
#include <cuda_bf16.h>

#include "encoder_kernels.h"

namespace btc {
namespace {

__global__ void ToBf16RowsKernel(const float* src, int64_t rows, int64_t cols, int64_t ld, __nv_bfloat162* dst) {
  // Two elements a thread: cols is even for every GEMM the encoder runs (E, 3E, F), and an odd
  // last column is handled alone.
  const int64_t pairs = (cols + 1) / 2;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < rows * pairs;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = i / pairs, c = 2 * (i % pairs);
    const float* row = src + r * ld;
    __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(dst) + r * cols + c;
    if (c + 1 < cols && cols % 2 == 0) {
      dst[(r * cols + c) / 2] = __floats2bfloat162_rn(row[c], row[c + 1]);
    } else {
      out[0] = __float2bfloat16_rn(row[c]);
      if (c + 1 < cols) out[1] = __float2bfloat16_rn(row[c + 1]);
    }
  }
}

}  // namespace

cudaError_t LaunchToBf16Rows(const float* src, int64_t rows, int64_t cols, int64_t ld, __nv_bfloat16* dst,
                             cudaStream_t stream) {
  const int64_t n = rows * ((cols + 1) / 2);
  if (n == 0) return cudaSuccess;
  const int64_t blocks = (n + 255) / 256;
  ToBf16RowsKernel<<<static_cast<unsigned>(blocks < 65536 ? blocks : 65536), 256, 0, stream>>>(
      src, rows, cols, ld, reinterpret_cast<__nv_bfloat162*>(dst));
  return cudaGetLastError();
}

}  // namespace btc
