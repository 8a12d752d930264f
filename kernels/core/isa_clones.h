// BT_ISA_CLONES: compile a function for AVX-512, AVX2+FMA and the baseline, and
// let the loader pick one per CPU (GCC function multi-versioning). Plain loops
// in such functions are vectorised for each instruction set.
#ifndef TFJS_BT_CORE_ISA_CLONES_H_
#define TFJS_BT_CORE_ISA_CLONES_H_

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define BT_ISA_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define BT_ISA_CLONES
#endif

#endif  // TFJS_BT_CORE_ISA_CLONES_H_
