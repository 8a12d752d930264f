// Portable kernels in 4-lane GCC/Clang vector extensions (SSE2 on x86-64, NEON
// on arm64): the fallback every CPU can run, compiled with baseline flags.
// GEMM tile 6 x 8; attention tile 4 x 8.
#include "../simd/simd_portable.h"
#include "kernel_set.h"

namespace btk {

const KernelTable& scalar_kernels() {
  static const KernelTable table = make_kernel_table<Portable, 6, 2, 4, 2>(Isa::scalar);
  return table;
}

}  // namespace btk
