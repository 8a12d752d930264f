// Beam search's reordering of a decoder's cache rows in place (btk_reorder_cache in btk.h).
#ifndef BTK_DECODER_REORDER_CACHE_H_
#define BTK_DECODER_REORDER_CACHE_H_

#include <stdint.h>

#include "../../include/btk.h"

namespace btk {

btk_status run_reorder_cache(float* key_cache, float* value_cache, int32_t* lengths, const int32_t* source_rows,
                             int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim);

}  // namespace btk

#endif  // BTK_DECODER_REORDER_CACHE_H_
