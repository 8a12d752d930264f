#include "packed_weight.h"

#include <cstdint>
#include <new>

#include "large_block.h"

namespace btk {

namespace {

// The values plus one line of slack: the micro-kernels may read a vector past a panel's end.
size_t block_bytes(size_t value_bytes) { return value_bytes + kLargeBlockAlignment; }

// Sizes past 2^40 bytes are refused (they would overflow the arithmetic below long before memory ran out).
constexpr int64_t kMaxBytes = INT64_C(1) << 40;

btk_packed_weight* allocate(const PackedWeight& shape, int64_t bytes) {
  if (bytes < 0 || bytes > kMaxBytes) return nullptr;
  void* memory = allocate_large_block(block_bytes(static_cast<size_t>(bytes)));
  if (!memory) return nullptr;
  btk_packed_weight* packed = new (std::nothrow) btk_packed_weight;
  if (!packed) {
    free_large_block(memory, block_bytes(static_cast<size_t>(bytes)));
    return nullptr;
  }
  packed->weight = shape;
  packed->weight.panels = static_cast<float*>(memory);
  packed->bytes = bytes;
  return packed;
}

}  // namespace

int64_t packed_weight_bytes(const btk_packed_weight& packed) { return packed.bytes; }

void free_packed_weight(btk_packed_weight* packed) {
  if (!packed) return;
  free_large_block(packed->weight.panels, block_bytes(static_cast<size_t>(packed->bytes)));
  delete packed;
}

btk_packed_weight* pack_weight_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || (!weight && rows > 0 && cols > 0)) return nullptr;
  const int64_t width = table.gemm_panel_width;
  const int64_t panels = (cols + width - 1) / width;
  if (panels > 0 && rows > (kMaxBytes / static_cast<int64_t>(sizeof(float))) / (panels * width)) return nullptr;
  const int64_t floats = rows * panels * width;
  btk_packed_weight* packed =
      allocate(PackedWeight{rows, cols, table.gemm_panel_width, table.isa, nullptr, WeightFormat::f32_panels},
               floats * static_cast<int64_t>(sizeof(float)));
  if (packed && floats > 0) table.pack_weight(weight, rows, cols, packed->weight.panels);
  return packed;
}

btk_packed_weight* pack_weight_bf16_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols,
                                        bool transposed) {
  if (rows < 0 || cols < 0 || (!weight && rows > 0 && cols > 0)) return nullptr;
  // Bound each size before the layout multiplies them (padding adds at most one panel and one row).
  const int64_t padded_rows = rows + 2, padded_cols = cols + table.gemm_panel_width;
  if (padded_cols > 0 && padded_rows > (kMaxBytes / 2) / padded_cols) return nullptr;
  const int64_t elements = table.bf16_elements(rows, cols);
  btk_packed_weight* packed =
      allocate(PackedWeight{rows, cols, table.gemm_panel_width, table.isa, nullptr, WeightFormat::bf16_panels}, elements * 2);
  if (packed && elements > 0)
    table.pack_weight_bf16(weight, rows, cols, transposed, reinterpret_cast<uint16_t*>(packed->weight.panels));
  return packed;
}

bool packed_weight_matches(const btk_packed_weight* packed, const KernelTable& table) {
  return packed && packed->weight.isa == table.isa && packed->weight.panel_width == table.gemm_panel_width;
}

}  // namespace btk
