// New row b = old row source_rows[b], in place. A row that keeps its place
// (source_rows[r] == r) is never written, so rows copied from it are read
// where they are; only the sources that are themselves overwritten are saved
// first, per layer and tensor, so the scratch is at most one layer's used rows
// of one cache. Only each source's first `length` positions move.
#include "reorder_cache.h"

#include <cstring>
#include <new>
#include <vector>

#include "../thread_pool.h"

namespace btk {

btk_status run_reorder_cache(float* key_cache, float* value_cache, int32_t* lengths, const int32_t* source_rows,
                             int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim) {
  if (num_layers < 0 || batch < 0 || kv_heads < 0 || capacity < 0 || head_dim < 0) return BTK_INVALID_ARGUMENT;
  if (batch > 0 && (!lengths || !source_rows)) return BTK_INVALID_ARGUMENT;
  for (int64_t b = 0; b < batch; ++b) {
    if (source_rows[b] < 0 || source_rows[b] >= batch) return BTK_INVALID_ARGUMENT;
    if (lengths[b] < 0 || lengths[b] > capacity) return BTK_INVALID_ARGUMENT;
  }
  const int64_t row_floats = kv_heads * capacity * head_dim;  // one batch row of one layer
  if (num_layers * batch * row_floats > 0 && (!key_cache || !value_cache)) return BTK_INVALID_ARGUMENT;
  try {
    const std::vector<int32_t> old_lengths(lengths, lengths + batch);
    // Sources read after their own row is overwritten: saved first, at saved_at[r] in the scratch.
    std::vector<int64_t> saved_at(batch, -1), saved;
    int64_t scratch_floats = 0;
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t r = source_rows[b];
      if (r == b || source_rows[r] == r || saved_at[r] >= 0) continue;
      saved_at[r] = scratch_floats;
      saved.push_back(r);
      scratch_floats += kv_heads * old_lengths[r] * head_dim;
    }
    for (int64_t b = 0; b < batch; ++b) lengths[b] = old_lengths[source_rows[b]];
    if (num_layers * row_floats == 0) return BTK_OK;
    std::vector<float> scratch(static_cast<size_t>(scratch_floats));
    const int64_t head_floats = capacity * head_dim;
    for (int64_t l = 0; l < num_layers; ++l)
      for (float* cache : {key_cache, value_cache}) {
        float* layer = cache + l * batch * row_floats;
        auto save = [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) {
            const int64_t r = saved[i], used = old_lengths[r] * head_dim;
            for (int64_t g = 0; g < kv_heads && used > 0; ++g)
              std::memcpy(scratch.data() + saved_at[r] + g * used, layer + r * row_floats + g * head_floats,
                          sizeof(float) * used);
          }
        };
        parallel_for_each(static_cast<int64_t>(saved.size()), 1, save);
        auto place = [&](int64_t begin, int64_t end) {
          for (int64_t b = begin; b < end; ++b) {
            const int64_t r = source_rows[b], used = old_lengths[r] * head_dim;
            if (r == b || used == 0) continue;
            for (int64_t g = 0; g < kv_heads; ++g) {
              const float* from = saved_at[r] >= 0 ? scratch.data() + saved_at[r] + g * used
                                                   : layer + r * row_floats + g * head_floats;
              std::memcpy(layer + b * row_floats + g * head_floats, from, sizeof(float) * used);
            }
          }
        };
        parallel_for_each(batch, 1, place);
      }
    return BTK_OK;
  } catch (const std::bad_alloc&) {
    return BTK_OUT_OF_MEMORY;
  }
}

}  // namespace btk
