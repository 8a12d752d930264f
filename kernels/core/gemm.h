// Single-precision GEMM with a fused epilogue, for the encoder layer's
// projections: C[M, N] = act(A[M, K] · B[K, N] + bias) + residual, all
// row-major with leading dimensions. B is the weight in the Keras/tfjs Dense
// layout [in, out]. Picks AVX-512, AVX2+FMA or portable code at run time
// (TFJS_BT_ISA=avx512|avx2|generic forces a lower one).
#ifndef TFJS_BT_CORE_GEMM_H_
#define TFJS_BT_CORE_GEMM_H_

#include <cstdint>

namespace bt {

enum class Activation { kNone, kGelu, kGeluTanh, kRelu };

struct GemmEpilogue {
  const float* bias = nullptr;      // [N] or null
  Activation activation = Activation::kNone;
  const float* residual = nullptr;  // [M, N] with leading dimension ld_residual, added last
  int64_t ld_residual = 0;
};

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, const GemmEpilogue& epilogue);

// The same product without threads or epilogue, for small blocks inside other
// kernels (e.g. attention tiles): C = A·B, or C += A·B when `accumulate`.
void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc, bool accumulate);

// The instruction set Gemm uses: "avx512", "avx2" or "generic".
const char* GemmIsa();

}  // namespace bt

#endif  // TFJS_BT_CORE_GEMM_H_
