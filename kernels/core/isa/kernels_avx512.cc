// AVX-512F kernels: compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma,
// only ever called after cpu_features.cc has seen those in cpuid.
// GEMM tile 8 x 48 (24 zmm accumulators; measured a few % ahead of 12 x 32,
// 14 x 32 and 6 x 64 on Zen 4); attention tile 8 x 32 (its tiles are 64 wide).
// GCC 12 reports a false "(may be) used uninitialized" inside its own AVX-512
// headers (the _mm512_undefined_ps placeholders of masked intrinsics).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "../simd/simd_avx512.h"
#include "kernel_set.h"

namespace btk {

const KernelTable& avx512_kernels() {
  static const KernelTable table = make_kernel_table<Avx512, 8, 3, 8, 2>(Isa::avx512);
  return table;
}

}  // namespace btk
