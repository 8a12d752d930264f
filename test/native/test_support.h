// Minimal test harness and random data for the C++ tests (no framework needed).
#ifndef BTK_TEST_SUPPORT_H_
#define BTK_TEST_SUPPORT_H_

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../kernels/include/btk.h"

namespace test {

inline int& failures() {
  static int count = 0;
  return count;
}

#define CHECK(condition, ...)                                                 \
  do {                                                                        \
    if (!(condition)) {                                                       \
      std::fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #condition); \
      std::fprintf(stderr, __VA_ARGS__);                                      \
      std::fprintf(stderr, "\n");                                             \
      ++test::failures();                                                     \
    }                                                                         \
  } while (0)

inline std::mt19937& rng() {
  static std::mt19937 generator(1234);
  return generator;
}

inline std::vector<float> random_floats(size_t count, float low = -1.0f, float high = 1.0f) {
  std::uniform_real_distribution<float> dist(low, high);
  std::vector<float> values(count);
  for (auto& v : values) v = dist(rng());
  return values;
}

inline int random_int(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng()); }

// Largest |got - want| / (atol + rtol * |want|); <= 1 passes. NaN where exactly one side is NaN
// (or infinities differ) counts as a failure; matching NaNs pass.
inline double worst_error(const float* got, const double* want, size_t count, double atol, double rtol,
                          size_t* where = nullptr) {
  double worst = 0.0;
  for (size_t i = 0; i < count; ++i) {
    double ratio;
    if (std::isnan(want[i]) || std::isnan(got[i])) ratio = std::isnan(want[i]) && std::isnan(got[i]) ? 0.0 : INFINITY;
    else if (std::isinf(want[i]) || std::isinf(got[i])) ratio = (double)got[i] == want[i] ? 0.0 : INFINITY;
    else ratio = std::fabs(got[i] - want[i]) / (atol + rtol * std::fabs(want[i]));
    if (ratio > worst) {
      worst = ratio;
      if (where) *where = i;
    }
  }
  return worst;
}

inline int finish(const char* name) {
  std::printf("%s [%s, %d threads]: %s\n", name, btk_isa_name(), btk_num_threads(),
              failures() ? "FAILED" : "ok");
  return failures() ? 1 : 0;
}

// The ISA the tests were asked to run (TFJS_BT_ISA) must be the one running.
inline void check_requested_isa() {
  if (const char* requested = std::getenv("TFJS_BT_ISA")) {
    std::string want = requested;
    CHECK(want == btk_isa_name(), "requested %s, running %s", requested, btk_isa_name());
  }
}

}  // namespace test

#endif  // BTK_TEST_SUPPORT_H_
