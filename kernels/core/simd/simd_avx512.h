// 16-lane float vectors on AVX-512F (zmm). Included only by the translation
// unit compiled with AVX-512 flags; the kernel templates see the same small
// interface on every ISA (see simd_portable.h for the reference version).
#ifndef BTK_SIMD_AVX512_H_
#define BTK_SIMD_AVX512_H_

#include <immintrin.h>
#include <stdint.h>

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

struct Avx512 {
  using F = __m512;
  static constexpr int W = 16;

  static inline F zero() { return _mm512_setzero_ps(); }
  static inline F set1(float x) { return _mm512_set1_ps(x); }
  static inline F load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, F x) { _mm512_storeu_ps(p, x); }
  static inline __mmask16 first(int n) { return static_cast<__mmask16>((1u << n) - 1u); }
  // n in [0, W): lanes past n read as 0 and are never touched in memory.
  static inline F load_partial(const float* p, int n) { return _mm512_maskz_loadu_ps(first(n), p); }
  static inline void store_partial(float* p, F x, int n) { _mm512_mask_storeu_ps(p, first(n), x); }
  // W bfloat16 values widened to float32 (exact: bf16 is the top half of a float32).
  static inline F load_bf16(const uint16_t* p) {
    const __m256i half = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
  }
  static inline F load_bf16_partial(const uint16_t* p, int n) {
    const __m256i half = _mm256_maskz_loadu_epi16(first(n), p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(half), 16));
  }

  static inline F add(F a, F b) { return _mm512_add_ps(a, b); }
  static inline F sub(F a, F b) { return _mm512_sub_ps(a, b); }
  static inline F mul(F a, F b) { return _mm512_mul_ps(a, b); }
  static inline F div(F a, F b) { return _mm512_div_ps(a, b); }
  static inline F fmadd(F a, F b, F c) { return _mm512_fmadd_ps(a, b, c); }
  // x < lo ? lo : x, so NaN passes through (max returns its 2nd operand on NaN).
  static inline F clamp_below(F x, F lo) { return _mm512_max_ps(lo, x); }
  static inline F clamp_above(F x, F hi) { return _mm512_min_ps(hi, x); }
  // Ordinary max for reductions of finite/-inf data; NaN handling is the caller's.
  static inline F max(F a, F b) { return _mm512_max_ps(a, b); }
  static inline F abs(F x) { return _mm512_abs_ps(x); }
  static inline F select_lt(F a, F b, F if_lt, F otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), otherwise, if_lt);
  }
  static inline F select_eq(F a, F b, F if_eq, F otherwise) {
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ), otherwise, if_eq);
  }
  static inline float reduce_add(F x) { return _mm512_reduce_add_ps(x); }
  static inline float reduce_max(F x) { return _mm512_reduce_max_ps(x); }
  // t holds round(y) + 1.5 * 2^23 (the round-by-addition trick); returns 2^round(y)
  // for round(y) in [-127, 128] (-127 gives exactly 0, 128 gives +inf).
  static inline F pow2_of_rounded(F t) {
    const __m512i n = _mm512_sub_epi32(_mm512_castps_si512(t), _mm512_set1_epi32(0x4B400000));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(n, _mm512_set1_epi32(127)), 23));
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_SIMD_AVX512_H_
