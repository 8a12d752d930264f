// The register-tiled micro-kernel every matrix product in the core runs on:
//
//   C[MR][NV*W] (+)= sum over k of  A(k, row) * B(k, column)
//
// with A(k, row) = a[k * a_step + row * A_ROW] (A_ROW = 1: a k-major panel of MR
// floats per k; A_ROW = the row length with a_step = 1: a row-major tile, which
// keeps every broadcast address a constant offset because A_ROW is known) and
// B(k, :) = b[k * b_step .. + NV*W) (a row of NV vectors). The MR x NV
// accumulators stay in registers for the whole k loop; each k step loads NV
// vectors of B and broadcasts MR scalars of A. The GEMM feeds it packed panels
// (a_step = MR, b_step = NR); attention feeds it tiles it packed or views in place;
// the decoder's products feed it a model's own row-major weights (b_step = N) or
// bfloat16 panels widened on load.
#ifndef BTK_GEMM_TILE_KERNEL_H_
#define BTK_GEMM_TILE_KERNEL_H_

#include <stdint.h>

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// B rows are float32, or bfloat16 (uint16_t) widened to float32 on load.
template <class V>
static inline typename V::F load_b(const float* p) { return V::load(p); }
template <class V>
static inline typename V::F load_b(const uint16_t* p) { return V::load_bf16(p); }

template <class V, int MR, int NV, int A_ROW = 1, class BT = float>
static inline void tile_kernel(int64_t k, const float* a, int64_t a_step, const BT* b, int64_t b_step,
                               float* c, int64_t ldc, bool accumulate, const BT* prefetch = nullptr) {
  using F = typename V::F;
  constexpr int W = V::W;
  constexpr int kLineElements = 64 / static_cast<int>(sizeof(BT));
  F acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();

  for (int64_t kk = 0; kk < k; ++kk) {
    if (prefetch) {
#pragma GCC unroll 8
      for (int line = 0; line < (NV * W + kLineElements - 1) / kLineElements; ++line)
        __builtin_prefetch(prefetch + line * kLineElements, 0, 2);
      prefetch += b_step;
    }
    F b_row[NV];
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) b_row[v] = load_b<V>(b + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const F a_value = V::set1(a[i * A_ROW]);
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = V::fmadd(a_value, b_row[v], acc[i][v]);
    }
    a += a_step;
    b += b_step;
  }

#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i) {
    float* c_row = c + i * ldc;
#pragma GCC unroll 8
    for (int v = 0; v < NV; ++v) {
      const F sum = accumulate ? V::add(V::load(c_row + v * W), acc[i][v]) : acc[i][v];
      V::store(c_row + v * W, sum);
    }
  }
}

}  // namespace
}  // namespace btk

#endif  // BTK_GEMM_TILE_KERNEL_H_
