#include "packed_weight.h"

#include <new>

#include "large_block.h"

namespace btk {

namespace {

// The panels plus one line of slack: the micro-kernels may read a vector past a panel's end.
size_t packed_block_bytes(size_t floats) { return floats * sizeof(float) + kLargeBlockAlignment; }

}  // namespace

void free_packed_weight(btk_packed_weight* packed) {
  if (!packed) return;
  const PackedWeight& w = packed->weight;
  free_large_block(w.panels, packed_block_bytes(static_cast<size_t>(panel_count(w) * w.rows * w.panel_width)));
  delete packed;
}

btk_packed_weight* pack_weight_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || (!weight && rows > 0 && cols > 0)) return nullptr;
  const int64_t width = table.gemm_panel_width;
  const int64_t panels = (cols + width - 1) / width;
  // rows * panels * width floats must fit comfortably in size_t.
  if (panels > 0 && rows > (INT64_C(1) << 40) / (panels * width)) return nullptr;
  const size_t floats = static_cast<size_t>(rows * panels * width);
  float* memory = static_cast<float*>(allocate_large_block(packed_block_bytes(floats)));
  if (!memory) return nullptr;
  btk_packed_weight* packed = new (std::nothrow) btk_packed_weight;
  if (!packed) {
    free_large_block(memory, packed_block_bytes(floats));
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
