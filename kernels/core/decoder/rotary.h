// Rotary position embeddings on rows of heads (generic code: a few multiplies
// per feature, bound by the rows' memory traffic, not worth per-ISA copies).
#ifndef BTK_DECODER_ROTARY_H_
#define BTK_DECODER_ROTARY_H_

#include <stdint.h>

#include "../../include/btk.h"

namespace btk {

// Valid rotary parameters for heads of head_dim (rotary_dim 0 = none).
bool rotary_is_valid(const btk_rotary& rotary, int64_t head_dim);

// Rotates `heads` heads of head_dim features (head h at x + h * head_stride) at `position`
// (checked by the caller: 0 <= position < rotary.table_rows), in place.
void rotate_heads(const btk_rotary& rotary, float* x, int64_t heads, int64_t head_stride, int64_t head_dim,
                  int64_t position);

}  // namespace btk

#endif  // BTK_DECODER_ROTARY_H_
