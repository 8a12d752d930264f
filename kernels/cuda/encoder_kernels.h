// Launchers of the encoder layer's elementwise and row kernels.
#ifndef TFJS_BT_CUDA_ENCODER_KERNELS_H_
#define TFJS_BT_CUDA_ENCODER_KERNELS_H_

#include <cstdint>

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

}  // namespace btc

#endif  // TFJS_BT_CUDA_ENCODER_KERNELS_H_
