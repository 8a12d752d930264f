// Elementwise math on any vector type of the simd_*.h interface: exp, erf-GELU,
// tanh-GELU, ReLU, SiLU. Templates, so each ISA translation unit gets its own copy
// compiled with its own flags (no shared out-of-line code across ISAs).
//
// Accuracy: exp has ~1 ulp relative error on [-87, 88]; GELU-erf uses the
// Abramowitz-Stegun 7.1.26 erfc form (absolute error < 2e-7), evaluated as erfc
// for negative inputs so there is no cancellation in 1 + erf(x).
#ifndef BTK_SIMD_VECTOR_MATH_H_
#define BTK_SIMD_VECTOR_MATH_H_

#include "../../include/btk.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// e^x. Inputs below -88 return exactly 0 (so fully masked scores contribute
// nothing), above 88.7 return +inf, NaN stays NaN.
template <class V>
static inline typename V::F vexp(typename V::F x) {
  using F = typename V::F;
  x = V::clamp_above(x, V::set1(88.7f));
  x = V::clamp_below(x, V::set1(-88.0f));
  const F round_magic = V::set1(12582912.0f);  // 1.5 * 2^23: adding it rounds to integer
  const F t = V::add(V::mul(x, V::set1(1.44269504088896341f)), round_magic);
  const F n = V::sub(t, round_magic);
  // r = x - n * ln2 in two steps (Cody-Waite) to keep r exact.
  F r = V::fmadd(n, V::set1(-0.693359375f), x);
  r = V::fmadd(n, V::set1(2.12194440e-4f), r);
  F p = V::set1(1.9875691500e-4f);
  p = V::fmadd(p, r, V::set1(1.3981999507e-3f));
  p = V::fmadd(p, r, V::set1(8.3334519073e-3f));
  p = V::fmadd(p, r, V::set1(4.1665795894e-2f));
  p = V::fmadd(p, r, V::set1(1.6666665459e-1f));
  p = V::fmadd(p, r, V::set1(5.0000001201e-1f));
  p = V::fmadd(p, V::mul(r, r), V::add(r, V::set1(1.0f)));
  return V::mul(p, V::pow2_of_rounded(t));
}

// 0.5 x (1 + erf(x / sqrt 2)).
template <class V>
static inline typename V::F vgelu_erf(typename V::F x) {
  using F = typename V::F;
  const F z = V::mul(V::abs(x), V::set1(0.70710678118654752f));
  const F t = V::div(V::set1(1.0f), V::fmadd(z, V::set1(0.3275911f), V::set1(1.0f)));
  F poly = V::set1(1.061405429f);
  poly = V::fmadd(poly, t, V::set1(-1.453152027f));
  poly = V::fmadd(poly, t, V::set1(1.421413741f));
  poly = V::fmadd(poly, t, V::set1(-0.284496736f));
  poly = V::fmadd(poly, t, V::set1(0.254829592f));
  poly = V::mul(poly, t);
  const F erfc_z = V::mul(poly, vexp<V>(V::sub(V::zero(), V::mul(z, z))));  // erfc(|x|/sqrt 2)
  // x >= 0: 1 + erf = 2 - erfc;  x < 0: 1 + erf = erfc.
  const F one_plus_erf = V::select_lt(x, V::zero(), erfc_z, V::sub(V::set1(2.0f), erfc_z));
  return V::mul(V::mul(V::set1(0.5f), x), one_plus_erf);
}

// 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(u) = 1 - 2 / (1 + e^{2u}).
template <class V>
static inline typename V::F vgelu_tanh(typename V::F x) {
  using F = typename V::F;
  const F x2 = V::mul(x, x);
  const F u = V::mul(V::mul(x, V::set1(0.7978845608028654f)), V::fmadd(x2, V::set1(0.044715f), V::set1(1.0f)));
  const F e = vexp<V>(V::add(u, u));
  const F tanh_u = V::sub(V::set1(1.0f), V::div(V::set1(2.0f), V::add(e, V::set1(1.0f))));
  return V::mul(V::mul(V::set1(0.5f), x), V::add(V::set1(1.0f), tanh_u));
}

// x * sigmoid(x) = x / (1 + e^{-x}) (vexp clamps, so very negative x give x / ~3e38, about -0).
template <class V>
static inline typename V::F vsilu(typename V::F x) {
  const typename V::F e = vexp<V>(V::sub(V::zero(), x));
  return V::div(x, V::add(V::set1(1.0f), e));
}

template <class V>
static inline typename V::F vactivate(typename V::F x, btk_activation activation) {
  switch (activation) {
    case BTK_ACTIVATION_RELU: return V::clamp_below(x, V::zero());
    case BTK_ACTIVATION_GELU_ERF: return vgelu_erf<V>(x);
    case BTK_ACTIVATION_GELU_TANH: return vgelu_tanh<V>(x);
    case BTK_ACTIVATION_SILU: return vsilu<V>(x);
    default: return x;
  }
}

}  // namespace
}  // namespace btk

#endif  // BTK_SIMD_VECTOR_MATH_H_
