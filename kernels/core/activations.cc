// Activations applied in place by the GEMM epilogue. GELU's erf uses a
// polynomial form (Abramowitz & Stegun 7.1.28, absolute error below 3e-7)
// that the compiler vectorises, instead of a scalar libm call per element.
#include "activations.h"

#include "isa_clones.h"

#include <cmath>

namespace bt {
namespace {

inline float ErfPolynomial(float x) {
  const float z = std::fabs(x);
  float p = 1.f + z * (0.0705230784f + z * (0.0422820123f + z * (0.0092705272f +
            z * (0.0001520143f + z * (0.0002765672f + z * 0.0000430638f)))));
  p *= p;  // ^2
  p *= p;  // ^4
  p *= p;  // ^8
  p *= p;  // ^16 (overflows to +inf for large |x|, giving erf = ±1 exactly)
  const float magnitude = 1.f - 1.f / p;
  return std::copysign(magnitude, x);
}

BT_ISA_CLONES
void GeluErf(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = 0.5f * x[i] * (1.f + ErfPolynomial(x[i] * 0.70710678118654752f));
}

BT_ISA_CLONES
void Relu(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = x[i] < 0.f ? 0.f : x[i];
}

void GeluTanh(float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.f + std::tanh(0.79788456080286536f * (v + 0.044715f * v * v * v)));
  }
}

}  // namespace

void ApplyActivation(Activation activation, float* x, int64_t n) {
  switch (activation) {
    case Activation::kNone: return;
    case Activation::kRelu: return Relu(x, n);
    case Activation::kGelu: return GeluErf(x, n);
    case Activation::kGeluTanh: return GeluTanh(x, n);
  }
}

}  // namespace bt
