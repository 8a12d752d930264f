// AVX-512 kernels plus bfloat16 products on AVX512-BF16 dot products:
// compiled with the AVX-512 flags and -mavx512bf16, only ever called after
// cpu_features.cc has seen avx512bf16 in cpuid. The table is the AVX-512 one
// (same tiles) with the bfloat16 weight layout and products replaced.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "../simd/simd_avx512.h"
#include "../gemm/bf16_dot_gemm.h"
#include "kernel_set.h"

namespace btk {

const KernelTable& avx512_bf16_kernels() {
  static const KernelTable table = [] {
    KernelTable t = make_kernel_table<Avx512, 12, 2, 8, 2>(Isa::avx512_bf16);
    using Bf16 = Bf16DotGemm<12, 2>;
    t.gemm_view = &Bf16::gemm_view;
    t.bf16_elements = &Bf16::bf16_elements;
    t.pack_weight_bf16 = &Bf16::pack_weight_bf16;
    return t;
  }();
  return table;
}

}  // namespace btk
