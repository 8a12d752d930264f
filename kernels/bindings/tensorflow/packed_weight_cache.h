// Packed weights for the TensorFlow kernels, cached across calls. Packing a
// BERT-base layer's weights costs tens of milliseconds, as much as running the
// layer on a short batch, and tfjs passes the same weight tensors on every call.
// Two kinds share the cache: float32 panels (btk_pack_weight, the encoder ops)
// and bfloat16 copies (btk_pack_weight_bf16, BtTransformerDecoderStack with
// weight_precision 'bfloat16'; a tied LM head's transposed copy is its own kind).
//
// A cache entry keeps a reference to the weight's TensorFlow buffer. While it
// is held the buffer can be neither freed (so no other tensor can appear at its
// address) nor forwarded to an op's output and overwritten (TensorFlow only
// forwards buffers it holds the only reference to), so a buffer address plus
// shape identifies the same immutable values. Entries are evicted least
// recently used first once their packed bytes exceed a budget
// (TFJS_BT_TENSORFLOW_WEIGHT_CACHE_MB, default 2048; 0 disables the cache).
#ifndef TFJS_BT_TENSORFLOW_PACKED_WEIGHT_CACHE_H_
#define TFJS_BT_TENSORFLOW_PACKED_WEIGHT_CACHE_H_

#include <memory>

#include "btk.h"
#include "tf_helpers.h"

namespace bt_tf {

using SharedPackedWeight = std::shared_ptr<const btk_packed_weight>;

// The pack of a [rows, cols] float weight input (shape already checked).
// `weight` is the kernel's owned input; the cache may keep it (it then becomes null).
SharedPackedWeight CachedPackedWeight(TensorPtr& weight, int64_t rows, int64_t cols);

// The bfloat16 copy of a [rows = in, cols = out] weight input, or of one stored transposed
// ([cols, rows] in memory: an LM head tied to the word embeddings) when `transposed`.
// Same ownership rule as CachedPackedWeight.
SharedPackedWeight CachedBf16Weight(TensorPtr& weight, int64_t rows, int64_t cols, bool transposed);

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_PACKED_WEIGHT_CACHE_H_
