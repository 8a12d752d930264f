// Row-major float32 GEMM through cuBLASLt with a fused bias (+ReLU / +tanh-GELU)
// epilogue and an optional residual: y = act(x·w + bias) + residual.
#ifndef TFJS_BT_CUDA_GEMM_LT_H_
#define TFJS_BT_CUDA_GEMM_LT_H_

#include <cstdint>
#include <string>

#include <cublasLt.h>
#include <cuda_runtime.h>

namespace btc {

enum class GemmEpilogue { kBias, kBiasRelu, kBiasGeluTanh };

struct GemmLt {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;  // device memory owned by the context
  size_t workspace_bytes = 0;
};

// x [rows, k] (row stride ldx), w [k, n] (contiguous; [n, k] when w_transposed, as an LM head
// tied to the word embeddings is), bias [n] or null (no bias: the epilogue is the activation
// alone), residual [rows, n] with row stride ldy or null, y [rows, n] with row stride ldy. tf32
// selects CUBLAS_COMPUTE_32F_FAST_TF32, else CUBLAS_COMPUTE_32F. On failure `error` says which
// call failed.
cublasStatus_t GemmRowMajor(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const float* x, int64_t ldx,
                            const float* w, const float* bias, const float* residual, float* y, int64_t ldy,
                            GemmEpilogue epilogue, bool tf32, cudaStream_t stream, std::string* error,
                            bool w_transposed = false);

}  // namespace btc

#endif  // TFJS_BT_CUDA_GEMM_LT_H_
