// Row-major float32 GEMM through cuBLASLt with a fused bias (+ReLU / +tanh-GELU)
// epilogue and an optional residual: y = act(x·w + bias) + residual.
#ifndef TFJS_BT_CUDA_GEMM_LT_H_
#define TFJS_BT_CUDA_GEMM_LT_H_

#include <cstdint>
#include <memory>
#include <string>

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include "bt_cuda.h"

namespace btc {

enum class GemmEpilogue { kBias, kBiasRelu, kBiasGeluTanh };

// The products' arithmetic on fp32 operands (A, B, C and D stay fp32 in memory):
// kFp32 CUBLAS_COMPUTE_32F (precision 'highest'), kTf32 CUBLAS_COMPUTE_32F_FAST_TF32 ('high'),
// kBf16 CUBLAS_COMPUTE_32F_FAST_16BF ('medium': operands rounded to bfloat16 inside the
// kernel, fp32 accumulation), so no converted copy of a weight is ever made.
enum class GemmMath { kFp32, kTf32, kBf16 };

inline GemmMath GemmMathFor(int precision) {
  return precision == BT_CUDA_PRECISION_MEDIUM ? GemmMath::kBf16
         : precision == BT_CUDA_PRECISION_HIGH ? GemmMath::kTf32
                                                : GemmMath::kFp32;
}

// The algorithms cuBLASLt's heuristic chose, by problem (sizes, strides, epilogue, compute type,
// alignments): the heuristic query costs tens of microseconds of host time, which at small
// batches is most of a GEMM's cost, and an encoder stack runs the same few shapes layer after
// layer. Thread-safe (a context may serve several host threads).
class GemmAlgoCache;

struct GemmLt {
  cublasLtHandle_t handle = nullptr;
  void* workspace = nullptr;  // device memory owned by the context
  size_t workspace_bytes = 0;
  std::shared_ptr<GemmAlgoCache> algos;  // null: query the heuristic on every call
};

std::shared_ptr<GemmAlgoCache> NewGemmAlgoCache();

// x [rows, k] (row stride ldx), w [k, n] (contiguous; [n, k] when w_transposed, as an LM head
// tied to the word embeddings is), bias [n] or null (no bias: the epilogue is the activation
// alone), residual [rows, n] with row stride ldy or null, y [rows, n] with row stride ldy. `math`
// picks the compute type. On failure `error` says which call failed.
cublasStatus_t GemmRowMajor(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const float* x, int64_t ldx,
                            const float* w, const float* bias, const float* residual, float* y, int64_t ldy,
                            GemmEpilogue epilogue, GemmMath math, cudaStream_t stream, std::string* error,
                            bool w_transposed = false);
// 'medium' GEMMs computed the other way: x and w already converted to bfloat16 (w [k, n]
// contiguous), FP32 compute; bias, residual and y stay fp32 (encoder_layer.cu,
// BT_CUDA_MEDIUM_GEMM=convert).
cublasStatus_t GemmRowMajorBf16Operands(const GemmLt& lt, int64_t rows, int64_t n, int64_t k, const __nv_bfloat16* x,
                                        int64_t ldx, const __nv_bfloat16* w, const float* bias, const float* residual,
                                        float* y, int64_t ldy, GemmEpilogue epilogue, cudaStream_t stream,
                                        std::string* error);

}  // namespace btc

#endif  // TFJS_BT_CUDA_GEMM_LT_H_
