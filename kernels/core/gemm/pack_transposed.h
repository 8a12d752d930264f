// Transposing pack shared by the GEMM (A into k-major MR-row panels) and the
// attention tiles (queries and keys into [D][rows] tiles):
//
//   dst[c * dst_ld + r] = scale * src[r * row_stride + c]   for r < rows, c < cols,
//
// with rows [rows, dst_ld) of every column zeroed so whole kernel tiles stay
// finite. 4 x 4 blocks are transposed in registers: the scalar transpose (one
// load and one store per float) was 5% of a T5-small encoder call and a fifth
// of a 64-token attention call.
#ifndef BTK_GEMM_PACK_TRANSPOSED_H_
#define BTK_GEMM_PACK_TRANSPOSED_H_

#include <stdint.h>
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

static inline void pack_transposed(const float* src, int64_t row_stride, int64_t rows, int64_t cols, float scale,
                                   float* dst, int64_t dst_ld) {
  for (int64_t c = 0; c < cols; ++c)
    for (int64_t r = rows; r < dst_ld; ++r) dst[c * dst_ld + r] = 0.0f;
  int64_t r = 0;
#if defined(__SSE2__)
  const __m128 factor = _mm_set1_ps(scale);
  for (; r + 4 <= rows; r += 4) {
    const float* row = src + r * row_stride;
    int64_t c = 0;
    for (; c + 4 <= cols; c += 4) {
      __m128 r0 = _mm_mul_ps(factor, _mm_loadu_ps(row + c));
      __m128 r1 = _mm_mul_ps(factor, _mm_loadu_ps(row + row_stride + c));
      __m128 r2 = _mm_mul_ps(factor, _mm_loadu_ps(row + 2 * row_stride + c));
      __m128 r3 = _mm_mul_ps(factor, _mm_loadu_ps(row + 3 * row_stride + c));
      _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
      _mm_storeu_ps(dst + c * dst_ld + r, r0);
      _mm_storeu_ps(dst + (c + 1) * dst_ld + r, r1);
      _mm_storeu_ps(dst + (c + 2) * dst_ld + r, r2);
      _mm_storeu_ps(dst + (c + 3) * dst_ld + r, r3);
    }
    for (; c < cols; ++c)
      for (int64_t i = 0; i < 4; ++i) dst[c * dst_ld + r + i] = scale * row[i * row_stride + c];
  }
#endif
  for (; r < rows; ++r) {
    const float* row = src + r * row_stride;
    for (int64_t c = 0; c < cols; ++c) dst[c * dst_ld + r] = scale * row[c];
  }
}

}  // namespace
}  // namespace btk

#endif  // BTK_GEMM_PACK_TRANSPOSED_H_
