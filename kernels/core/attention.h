// Fused scaled dot-product attention on raw float buffers (shapes validated by
// the caller). Semantics are the package's op semantics (README, API section):
// bottom-right causal alignment, masks combined, rows with no visible key
// give zeros and lse = -inf, NaN propagates.
#ifndef TFJS_BT_CORE_ATTENTION_H_
#define TFJS_BT_CORE_ATTENTION_H_

#include <cstdint>

namespace bt {

enum class MaskKind { kNone, kBool, kAdditive };

struct AttentionArgs {
  int64_t batch, heads, kv_heads, q_seq, k_seq, depth, value_depth;
  float scale;
  bool causal;  // bottom-right aligned
  const float* q;  // [B, H, Sq, D]
  const float* k;  // [B, Hkv, Sk, D]
  const float* v;  // [B, Hkv, Sk, Dv]
  MaskKind mask_kind;
  const void* mask;         // bool (uint8) or float, broadcast through mask_strides
  int64_t mask_strides[4];  // element strides over [B, H, Sq, Sk]; 0 = broadcast
  const uint8_t* key_valid;  // [B, Sk], nonzero = real key; null = all real
};

// out [B, H, Sq, Dv]; lse [B, H, Sq] (-inf for rows with no visible key).
void AttentionForward(const AttentionArgs& a, float* out, float* lse);

struct AttentionGradOutputs {
  float* dq;     // [B, H, Sq, D]
  float* dk;     // [B, Hkv, Sk, D]
  float* dv;     // [B, Hkv, Sk, Dv]
  float* dmask;  // the additive mask's own shape, or null
  int64_t dmask_size;
};

void AttentionBackward(const AttentionArgs& a, const float* dout, const float* out, const float* lse,
                       const AttentionGradOutputs& g);

// Self-attention of one packed sequence (rows of a [tokens, 3E] QKV buffer), all heads:
// used by the encoder layer after padding removal.
void AttendPackedSequence(const float* qkv, int64_t length, int64_t embed, int64_t heads, float scale, bool causal,
                          float* out, int64_t head_begin, int64_t head_end);

}  // namespace bt

#endif  // TFJS_BT_CORE_ATTENTION_H_
