// Launchers of the encoder layer's elementwise and row kernels.
#ifndef TFJS_BT_CUDA_ENCODER_KERNELS_H_
#define TFJS_BT_CUDA_ENCODER_KERNELS_H_

#include <cstdint>

#include <cuda_bf16.h>
#include <cuda_runtime.h>

namespace btc {

// y = LayerNorm(a + b) (b may be null); sum_out (may be null) receives a + b.
cudaError_t LaunchLayerNorm(const float* a, const float* b, float* sum_out, const float* gamma, const float* beta,
                            float eps, float* y, int64_t rows, int width, cudaStream_t stream);
cudaError_t LaunchPackRows(const float* x, const int* row_of_token, float* packed, int64_t tokens, int width,
                           cudaStream_t stream);
cudaError_t LaunchUnpackRows(const float* packed, const int* token_of_row, float* y, int64_t rows, int width,
                             cudaStream_t stream);
cudaError_t LaunchGeluErf(float* x, int64_t n, cudaStream_t stream);
// dst[rows, cols] (contiguous) = bf16(src[rows, cols] with row stride ld), round to nearest even.
cudaError_t LaunchToBf16Rows(const float* src, int64_t rows, int64_t cols, int64_t ld, __nv_bfloat16* dst,
                             cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_ENCODER_KERNELS_H_
