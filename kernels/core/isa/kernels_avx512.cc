// AVX-512F kernels: compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl -mfma,
// only ever called after cpu_features.cc has seen those in cpuid.
// GEMM tile 12 x 32 (24 zmm accumulators). 8 x 48 was as fast where the
// widths are multiples of 48 (BERT's 768 and 3072) but lost a third elsewhere
// (T5's 512 and 2048: 205 against 305 GFLOP/s at 512 rows on 2 Sapphire Rapids
// cores), where the last panel is partial and the column split uneven; every
// common width is a multiple of 32. Attention tile 8 x 32 (its tiles are 64 wide).
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
  static const KernelTable table = make_kernel_table<Avx512, 12, 2, 8, 2>(Isa::avx512);
  return table;
}

}  // namespace btk
