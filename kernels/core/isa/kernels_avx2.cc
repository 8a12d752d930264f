// AVX2 + FMA kernels: compiled with -mavx2 -mfma, used after cpuid shows both.
// GEMM tile 4 x 24 (12 ymm accumulators; ~8% ahead of the classic 6 x 16 on
// Zen 4: fewer loads per FMA); attention tile 4 x 16.
#include "../simd/simd_avx2.h"
#include "kernel_set.h"

namespace btk {

const KernelTable& avx2_kernels() {
  static const KernelTable table = make_kernel_table<Avx2, 4, 3, 4, 2>(Isa::avx2);
  return table;
}

}  // namespace btk
