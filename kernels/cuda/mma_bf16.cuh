// BF16 tensor-core primitives of the 'medium' attention kernels (sm_80+; run on sm_90 too):
// mma.sync m16n8k16 with FP32 accumulation, ldmatrix (plain and transposed), cp.async with
// zero fill, bf16x2 packing and the hardware exp2. Shared-memory operands are taken as
// pointers or as 32-bit shared-window addresses (SharedAddress).
// Fragment layouts (PTX ISA), g = lane / 4, t = lane % 4; a bf16x2 register holds the
// lower column (or k) index in its low half:
//   A (16x16, row): a0 (g, 2t..2t+1), a1 (g+8, 2t..2t+1), a2 (g, 2t+8..2t+9), a3 (g+8, 2t+8..2t+9)
//   B (16x8, col):  b0 (k=2t..2t+1, n=g), b1 (k=2t+8..2t+9, n=g)
//   C (16x8, f32):  c0 (g, 2t), c1 (g, 2t+1), c2 (g+8, 2t), c3 (g+8, 2t+1)
// ldmatrix .x4: lanes 8m..8m+7 give the row addresses of 8x8 matrix m (16 bytes a row); each
// thread receives, from matrix m into register m, the pair (row g, columns 2t, 2t+1); with
// .trans the pair (rows 2t, 2t+1, column g).
#ifndef TFJS_BT_CUDA_MMA_BF16_CUH_
#define TFJS_BT_CUDA_MMA_BF16_CUH_

#include <cstdint>

#include <cuda_bf16.h>

namespace btc {

__device__ inline void MmaBf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats as a bf16x2 register (round to nearest even), `lo` in the low half.
__device__ inline uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ inline uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

__device__ inline void LdMatrixX4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ inline void LdMatrixX4Trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

__device__ inline void LdMatrixX4(uint32_t (&r)[4], const void* row_address) {
  LdMatrixX4(r, SharedAddress(row_address));
}

__device__ inline void LdMatrixX4Trans(uint32_t (&r)[4], const void* row_address) {
  LdMatrixX4Trans(r, SharedAddress(row_address));
}

// 16 bytes global -> shared, bypassing L1; `src_bytes` 0 writes 16 zero bytes and reads nothing.
__device__ inline void CpAsync16(uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes) : "memory");
}

__device__ inline void CpAsync16(void* dst, const void* src, int src_bytes) {
  CpAsync16(SharedAddress(dst), src, src_bytes);
}

__device__ inline void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }

// Waits until at most `kPending` of this thread's committed groups are still in flight.
template <int kPending>
__device__ inline void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending) : "memory");
}

// 2^x on the special function unit (subnormal results flush to zero).
__device__ inline float Exp2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(r) : "f"(x));
  return r;
}

}  // namespace btc

#endif  // TFJS_BT_CUDA_MMA_BF16_CUH_
