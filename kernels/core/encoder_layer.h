// One transformer encoder layer with padding removal, on raw float buffers
// (shapes validated by the caller). Post-norm (BERT) or pre-norm (GPT-2, ViT);
// rows of padding tokens in the output are 0.
#ifndef TFJS_BT_CORE_ENCODER_LAYER_H_
#define TFJS_BT_CORE_ENCODER_LAYER_H_

#include <cstdint>

#include "gemm.h"

namespace bt {

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
  // Optional prepacked copies of the weights above (same values), which skip
  // the per-call packing copy; each may be null independently.
  const PackedWeight* packed_qkv;
  const PackedWeight* packed_q; const PackedWeight* packed_k; const PackedWeight* packed_v;
  const PackedWeight* packed_out; const PackedWeight* packed_ffn_in; const PackedWeight* packed_ffn_out;
};

// y [B, S, E]; rows of padding tokens are 0.
void EncoderLayer(const EncoderLayerArgs& a, float* y);

}  // namespace bt

#endif  // TFJS_BT_CORE_ENCODER_LAYER_H_
