// 4-lane float vectors written with GCC/Clang vector extensions: SSE2 on
// x86-64, NEON on arm64, scalar code elsewhere. The reference implementation of
// the small vector interface every kernel template is written against.
#ifndef BTK_SIMD_PORTABLE_H_
#define BTK_SIMD_PORTABLE_H_

#include <stdint.h>
#include <string.h>

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

struct Portable {
  typedef float F __attribute__((vector_size(16)));
  typedef int32_t I __attribute__((vector_size(16)));
  static constexpr int W = 4;

  static inline F zero() { return F{0.0f, 0.0f, 0.0f, 0.0f}; }
  static inline F set1(float x) { return F{x, x, x, x}; }
  static inline F load(const float* p) { F x; memcpy(&x, p, sizeof x); return x; }
  static inline void store(float* p, F x) { memcpy(p, &x, sizeof x); }
  static inline F load_partial(const float* p, int n) {
    F x = zero();
    for (int i = 0; i < n; ++i) x[i] = p[i];
    return x;
  }
  static inline void store_partial(float* p, F x, int n) {
    for (int i = 0; i < n; ++i) p[i] = x[i];
  }
  // W bfloat16 values widened to float32 (exact: bf16 is the top half of a float32).
  static inline F load_bf16_partial(const uint16_t* p, int n) {
    F x = zero();
    for (int i = 0; i < n; ++i) {
      const uint32_t bits = static_cast<uint32_t>(p[i]) << 16;
      float value;
      memcpy(&value, &bits, sizeof value);
      x[i] = value;
    }
    return x;
  }
  static inline F load_bf16(const uint16_t* p) { return load_bf16_partial(p, W); }

  static inline F add(F a, F b) { return a + b; }
  static inline F sub(F a, F b) { return a - b; }
  static inline F mul(F a, F b) { return a * b; }
  static inline F div(F a, F b) { return a / b; }
  static inline F fmadd(F a, F b, F c) { return a * b + c; }
  static inline F blend(I mask, F if_set, F otherwise) {
    return reinterpret_cast<F>((reinterpret_cast<I>(if_set) & mask) |
                               (reinterpret_cast<I>(otherwise) & ~mask));
  }
  static inline F clamp_below(F x, F lo) { return blend(x < lo, lo, x); }
  static inline F clamp_above(F x, F hi) { return blend(x > hi, hi, x); }
  static inline F max(F a, F b) { return blend(a > b, a, b); }
  static inline F abs(F x) {
    return reinterpret_cast<F>(reinterpret_cast<I>(x) & I{0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff});
  }
  static inline F select_lt(F a, F b, F if_lt, F otherwise) { return blend(a < b, if_lt, otherwise); }
  static inline F select_eq(F a, F b, F if_eq, F otherwise) { return blend(a == b, if_eq, otherwise); }
  static inline float reduce_add(F x) { return (x[0] + x[1]) + (x[2] + x[3]); }
  static inline float reduce_max(F x) {
    const float a = x[0] > x[1] ? x[0] : x[1], b = x[2] > x[3] ? x[2] : x[3];
    return a > b ? a : b;
  }
  static inline F pow2_of_rounded(F t) {
    const I n = reinterpret_cast<I>(t) - 0x4B400000;
    return reinterpret_cast<F>((n + 127) << 23);
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_SIMD_PORTABLE_H_
