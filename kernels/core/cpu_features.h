// Which instruction-set path the core runs: the best the CPU (and OS) supports,
// or a lower one forced with TFJS_BT_ISA=avx512_bf16|avx512|avx2|scalar for testing.
// avx512_bf16 is avx512 plus the AVX512-BF16 dot products (bfloat16 weights).
#ifndef BTK_CPU_FEATURES_H_
#define BTK_CPU_FEATURES_H_

namespace btk {

enum class Isa { scalar = 0, avx2 = 1, avx512 = 2, avx512_bf16 = 3 };

Isa best_supported_isa();
bool isa_supported(Isa isa);
// best_supported_isa(), lowered by TFJS_BT_ISA when that names a supported
// lower path (a higher or unknown name is ignored). Read once per process.
Isa selected_isa();
const char* isa_name(Isa isa);

}  // namespace btk

#endif  // BTK_CPU_FEATURES_H_
