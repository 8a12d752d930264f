// TF32 tensor-core primitives (mma.sync m16n8k8, sm_80+). Fragment layouts
// follow the PTX ISA: with g = lane / 4 and t = lane % 4,
//   A (16x8, row-major): a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4)
//   B (8x8, "col"):      b0 (k=t, n=g), b1 (k=t+4, n=g)
//   C (16x8, f32):       c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1)
#ifndef TFJS_BT_CUDA_MMA_TF32_CUH_
#define TFJS_BT_CUDA_MMA_TF32_CUH_

#include <cstdint>

namespace btc {

// Round to TF32 (round to nearest, ties away) and keep it in a float's bit pattern.
__device__ inline uint32_t ToTf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;" : "=r"(r) : "f"(x));
  return r;
}

__device__ inline void MmaTf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// 2^x on the special-function unit (ex2.approx.ftz): relative error about 2^-22, 2^-inf = +0,
// NaN stays NaN, results below FLT_MIN flush to zero.
__device__ inline float Exp2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

}  // namespace btc

#endif  // TFJS_BT_CUDA_MMA_TF32_CUH_
