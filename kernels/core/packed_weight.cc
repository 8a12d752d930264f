#include "packed_weight.h"

#include <cstdlib>
#include <new>

namespace btk {

btk_packed_weight* pack_weight_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || (!weight && rows > 0 && cols > 0)) return nullptr;
  const int64_t width = table.gemm_panel_width;
  const int64_t panels = (cols + width - 1) / width;
  // rows * panels * width floats must fit comfortably in size_t.
  if (panels > 0 && rows > (INT64_C(1) << 40) / (panels * width)) return nullptr;
  const size_t floats = static_cast<size_t>(rows * panels * width);
  float* memory = static_cast<float*>(std::aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64 + 64));
  if (!memory) return nullptr;
  btk_packed_weight* packed = new (std::nothrow) btk_packed_weight;
  if (!packed) {
    std::free(memory);
    return nullptr;
  }
  packed->weight = PackedWeight{rows, cols, table.gemm_panel_width, table.isa, memory};
  if (floats > 0) table.pack_weight(weight, rows, cols, memory);
  return packed;
}

bool packed_weight_matches(const btk_packed_weight* packed, const KernelTable& table) {
  return packed && packed->weight.isa == table.isa && packed->weight.panel_width == table.gemm_panel_width;
}

}  // namespace btk
