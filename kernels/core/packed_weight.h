// The opaque btk_packed_weight of the C API: a PackedWeight that owns its panels.
#ifndef BTK_PACKED_WEIGHT_H_
#define BTK_PACKED_WEIGHT_H_

#include "kernel_table.h"

struct btk_packed_weight {
  btk::PackedWeight weight;
};

namespace btk {

// Packs for `table`; null if the size overflows or memory runs out.
btk_packed_weight* pack_weight_for(const KernelTable& table, const float* weight, int64_t rows, int64_t cols);

// Frees the panels and the handle (null is a no-op).
void free_packed_weight(btk_packed_weight* packed);

// Usable by `table`: packed with its panel width and ISA.
bool packed_weight_matches(const btk_packed_weight* packed, const KernelTable& table);

}  // namespace btk

#endif  // BTK_PACKED_WEIGHT_H_
