// Single-precision GEMM with a fused epilogue, for the encoder layer's
// projections: C[M, N] = act(A[M, K] · B[K, N] + bias) + residual, all
// row-major with leading dimensions. B is the weight in the Keras/tfjs Dense
// layout [in, out]. Picks AVX-512, AVX2+FMA or portable code at run time
// (TFJS_BT_ISA=avx512|avx2|generic forces a lower one).
#ifndef TFJS_BT_CORE_GEMM_H_
#define TFJS_BT_CORE_GEMM_H_

#include <cstdint>
#include <vector>

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

// A weight B [k, n] packed once into the layout the micro-kernels read
// (column panels of NR, rows k-major inside each), so repeated products with
// the same weight skip the packing copy. The layout belongs to this process's
// selected instruction set.
class PackedWeight {
 public:
  PackedWeight(int64_t k, int64_t n, const float* b, int64_t ldb);
  int64_t rows() const { return k_; }
  int64_t cols() const { return n_; }
  const float* data() const { return data_.data(); }

 private:
  int64_t k_, n_, nr_;
  std::vector<float> data_;
};

// Gemm with a prepacked B: C[m, b.cols()] = epilogue(A[m, b.rows()] · B).
void GemmPacked(int64_t m, const float* a, int64_t lda, const PackedWeight& b, float* c, int64_t ldc,
                const GemmEpilogue& epilogue);

// The same product without threads or epilogue, for small blocks inside other
// kernels (e.g. attention tiles): C = A·B, or C += A·B when `accumulate`.
void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc, bool accumulate);

// The instruction set Gemm uses: "avx512", "avx2" or "generic".
const char* GemmIsa();

}  // namespace bt

#endif  // TFJS_BT_CORE_GEMM_H_
