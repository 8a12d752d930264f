// Picks the kernel table for the CPU at run time (see cpu_features.h).
#include "kernel_table.h"

namespace btk {

const KernelTable& kernels_for(Isa isa) {
#if defined(BTK_HAVE_X86_KERNELS)
  if (isa == Isa::avx512_bf16 && isa_supported(Isa::avx512_bf16)) return avx512_bf16_kernels();
  if (isa >= Isa::avx512 && isa_supported(Isa::avx512)) return avx512_kernels();
  if (isa >= Isa::avx2 && isa_supported(Isa::avx2)) return avx2_kernels();
#else
  (void)isa;
#endif
  return scalar_kernels();
}

const KernelTable& active_kernels() {
  static const KernelTable& table = kernels_for(selected_isa());
  return table;
}

}  // namespace btk
