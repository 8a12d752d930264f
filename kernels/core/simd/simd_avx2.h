// 8-lane float vectors on AVX2 + FMA (ymm). Same interface as simd_avx512.h.
#ifndef BTK_SIMD_AVX2_H_
#define BTK_SIMD_AVX2_H_

#include <immintrin.h>
#include <stdint.h>

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

struct Avx2 {
  using F = __m256;
  static constexpr int W = 8;

  static inline F zero() { return _mm256_setzero_ps(); }
  static inline F set1(float x) { return _mm256_set1_ps(x); }
  static inline F load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, F x) { _mm256_storeu_ps(p, x); }
  static inline __m256i first(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static inline F load_partial(const float* p, int n) { return _mm256_maskload_ps(p, first(n)); }
  static inline void store_partial(float* p, F x, int n) { _mm256_maskstore_ps(p, first(n), x); }
  // W bfloat16 values widened to float32 (exact: bf16 is the top half of a float32).
  static inline F load_bf16(const uint16_t* p) {
    const __m128i half = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(half), 16));
  }
  static inline F load_bf16_partial(const uint16_t* p, int n) {
    alignas(16) uint16_t lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < n; ++i) lanes[i] = p[i];
    return load_bf16(lanes);
  }

  static inline F add(F a, F b) { return _mm256_add_ps(a, b); }
  static inline F sub(F a, F b) { return _mm256_sub_ps(a, b); }
  static inline F mul(F a, F b) { return _mm256_mul_ps(a, b); }
  static inline F div(F a, F b) { return _mm256_div_ps(a, b); }
  static inline F fmadd(F a, F b, F c) { return _mm256_fmadd_ps(a, b, c); }
  static inline F clamp_below(F x, F lo) { return _mm256_max_ps(lo, x); }
  static inline F clamp_above(F x, F hi) { return _mm256_min_ps(hi, x); }
  static inline F max(F a, F b) { return _mm256_max_ps(a, b); }
  static inline F abs(F x) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x); }
  static inline F select_lt(F a, F b, F if_lt, F otherwise) {
    return _mm256_blendv_ps(otherwise, if_lt, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
  }
  static inline F select_eq(F a, F b, F if_eq, F otherwise) {
    return _mm256_blendv_ps(otherwise, if_eq, _mm256_cmp_ps(a, b, _CMP_EQ_OQ));
  }
  static inline float reduce_add(F x) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline float reduce_max(F x) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static inline F pow2_of_rounded(F t) {
    const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n, _mm256_set1_epi32(127)), 23));
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_SIMD_AVX2_H_
