// Integer helpers and self-freeing scratch memory for the kernel templates.
// Internal linkage, like everything the ISA translation units include, so no
// copy compiled with one ISA's flags is shared with another.
#ifndef BTK_SCRATCH_H_
#define BTK_SCRATCH_H_

#include <stdint.h>
#include <stdlib.h>

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

static inline int64_t min_i64(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t max_i64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
static inline int64_t round_up(int64_t a, int64_t b) { return ceil_div(a, b) * b; }

// 64-byte aligned scratch that frees itself; null data means allocation failed.
template <class T>
struct ScratchArray {
  T* data;
  explicit ScratchArray(int64_t count)
      : data(static_cast<T*>(aligned_alloc(64, static_cast<size_t>(round_up(max_i64(count, 1) * sizeof(T), 64))))) {}
  ~ScratchArray() { free(data); }
  ScratchArray(const ScratchArray&) = delete;
  ScratchArray& operator=(const ScratchArray&) = delete;
};
using ScratchFloats = ScratchArray<float>;

}  // namespace
}  // namespace btk

#endif  // BTK_SCRATCH_H_
