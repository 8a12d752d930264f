// The key/value cache of a decoder: per-sequence lengths, appending new rows
// in place, and attention over a sequence's cached rows.
#ifndef BTK_DECODER_KV_CACHE_H_
#define BTK_DECODER_KV_CACHE_H_

#include <stdint.h>

#include "../kernel_table.h"

namespace btk {

// Queries per sequence up to which decode_attention runs (one pass over the
// cache per kv head); longer ones (a prompt) use the tiled flash kernel.
constexpr int64_t kDecodeAttentionMaxQueries = 16;

// Attention of `problem` (q_lens / kv_lens per sequence, causal) with the kernel that fits it.
bool cached_attention(const KernelTable& kernels, const AttentionProblem& problem, const AttentionOperand& q,
                      const AttentionOperand& k, const AttentionOperand& v, const AttentionOperand& out);

btk_status run_attention_with_kv_cache(const KernelTable& kernels, const btk_kv_cache_problem& p, const float* q,
                                       const float* k, const float* v, float* key_cache, float* value_cache,
                                       float* out, int32_t* lengths);

}  // namespace btk

#endif  // BTK_DECODER_KV_CACHE_H_
