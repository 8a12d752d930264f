// The opaque btk_packed_weight of the C API: a PackedWeight that owns its values
// (float32 panels, or a bfloat16 copy).
#ifndef BTK_PACKED_WEIGHT_H_
#define BTK_PACKED_WEIGHT_H_

#include "kernel_table.h"

struct btk_packed_weight {
  btk::PackedWeight weight;
  int64_t bytes;  // of the values at weight.panels
};

namespace btk {

// Packs for `table`; null if the size overflows or memory runs out.
btk_packed_weight* pack_weight_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols);

// A bfloat16 copy for `table` (WeightFormat::bf16_panels) of a [rows, cols] weight stored
// [rows][cols], or [cols][rows] when `transposed`; null if the size overflows or memory runs out.
btk_packed_weight* pack_weight_bf16_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols,
                                        bool transposed);

// Bytes of the packed values.
int64_t packed_weight_bytes(const btk_packed_weight& packed);

// Frees the panels and the handle (null is a no-op).
void free_packed_weight(btk_packed_weight* packed);

// Usable by `table`: packed with its panel width and ISA.
bool packed_weight_matches(const btk_packed_weight* packed, const KernelTable& table);

}  // namespace btk

#endif  // BTK_PACKED_WEIGHT_H_
