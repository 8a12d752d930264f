#include "cpu_features.h"

#include <cstdlib>
#include <cstring>

namespace btk {

Isa best_supported_isa() {
#if defined(__x86_64__) && defined(BTK_HAVE_X86_KERNELS)
  // __builtin_cpu_supports also checks that the OS saves the wide registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
    return __builtin_cpu_supports("avx512bf16") ? Isa::avx512_bf16 : Isa::avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::avx2;
#endif
  return Isa::scalar;
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(best_supported_isa()); }

Isa selected_isa() {
  static const Isa selected = [] {
    Isa isa = best_supported_isa();
    if (const char* requested = std::getenv("TFJS_BT_ISA")) {
      Isa wanted = isa;
      if (!std::strcmp(requested, "avx512_bf16") || !std::strcmp(requested, "avx512bf16")) wanted = Isa::avx512_bf16;
      else if (!std::strcmp(requested, "avx512")) wanted = Isa::avx512;
      else if (!std::strcmp(requested, "avx2")) wanted = Isa::avx2;
      else if (!std::strcmp(requested, "scalar") || !std::strcmp(requested, "generic") ||
               !std::strcmp(requested, "portable")) wanted = Isa::scalar;
      if (isa_supported(wanted)) isa = wanted;
    }
    return isa;
  }();
  return selected;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::avx512_bf16: return "avx512_bf16";
    case Isa::avx512: return "avx512";
    case Isa::avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace btk
