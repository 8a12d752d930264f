// Cross-attention of an encoder-decoder's decoder layers (T5, BART, Whisper):
// filling a layer's cross key/value caches from the encoder states, and the
// attention of each sequence's new rows over its (static, unmasked-causally)
// source rows. The projections around it run in decoder_stack.cc.
#ifndef BTK_DECODER_CROSS_ATTENTION_H_
#define BTK_DECODER_CROSS_ATTENTION_H_

#include <stdint.h>

#include "../kernel_table.h"

namespace btk {

// One layer's cross keys and values, [batch, kv_heads, source_len, head_dim] each, from the
// encoder states [batch * source_len, embed_dim]: one product per projection over all the
// batch's source rows. The products' rows are [source][head][d] while a cache is
// [head][source][d], so with more than one kv head they go through `scratch`
// (batch * source_len * kv_heads * head_dim floats) and are scattered into the cache.
bool fill_cross_cache(const KernelTable& kernels, int64_t batch, int64_t source_len, int64_t embed_dim,
                      int64_t kv_heads, int64_t head_dim, const float* encoder_states, const WeightView& w_k,
                      const float* b_k, const WeightView& w_v, const float* b_v, float* key_cache,
                      float* value_cache, float* scratch);

// Where a layer's cross-attention reads and writes: queries and context rows packed per
// sequence (row r of sequence b at batch_offsets[b] + r * row_stride, heads side by side),
// the layer's caches [batch, kv_heads, source_len, head_dim].
struct CrossAttention {
  int64_t batch, heads, kv_heads, head_dim, source_len;
  const int64_t* q_lens;          // new rows per sequence
  float scale;
  const uint8_t* key_padding;     // [batch, source_len], nonzero = real; null: all real
  const float *key_cache, *value_cache;
};

// context = softmax(scale q . k over the real source rows) . v for every query head; a query
// head h reads kv head h / (heads / kv_heads). Few rows per sequence (decoding) read each
// cache row once per step; longer ones take the tiled kernel.
bool cross_attention(const KernelTable& kernels, const CrossAttention& problem, const float* q,
                     const int64_t* q_offsets, float* context, const int64_t* context_offsets, int64_t row_stride);

}  // namespace btk

#endif  // BTK_DECODER_CROSS_ATTENTION_H_
