// The CPU computations behind the TensorFlow ops, on raw float buffers whose
// shapes the op kernels have already validated. Semantics are those of the
// package's ops (see src/ops/scaled_dot_product_attention.ts and
// src/ops/encoder_args.ts).
#ifndef TFJS_BT_TENSORFLOW_COMPUTE_H_
#define TFJS_BT_TENSORFLOW_COMPUTE_H_

#include <cstdint>

namespace bt_tf {

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

enum class Activation { kGelu, kGeluTanh, kRelu };

struct EncoderLayerArgs {
  int64_t batch, seq, embed, ffn, num_heads;
  bool norm_first, causal;
  Activation activation;
  float eps1, eps2, scale;
  const float* x;  // [B, S, E]
  // QKV: packed [E, 3E] + [3E] when qkv_weight is set, else separate [E, E] + [E] each.
  const float* qkv_weight;
  const float* qkv_bias;
  const float* q_weight; const float* k_weight; const float* v_weight;
  const float* q_bias; const float* k_bias; const float* v_bias;
  const float* out_weight; const float* out_bias;
  const float* ln1_gamma; const float* ln1_beta;
  const float* ln2_gamma; const float* ln2_beta;
  const float* ffn_in_weight; const float* ffn_in_bias;
  const float* ffn_out_weight; const float* ffn_out_bias;
  const uint8_t* key_valid;  // [B, S] or null
};

// y [B, S, E]; rows of padding tokens are 0.
void EncoderLayer(const EncoderLayerArgs& a, float* y);

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_COMPUTE_H_
