// The q, k, v, attn_mask and key_padding_mask inputs shared by the attention
// ops' CPU and GPU kernels: read, checked and described once; each kernel then
// copies the description into its own ABI's struct (btk_sdpa_problem,
// bt_cuda_attention). The rules themselves are kernels/shared/problem_checks.h.
#ifndef BT_TF_ATTENTION_INPUTS_H_
#define BT_TF_ATTENTION_INPUTS_H_

#include <cstdint>
#include <vector>

#include "tf_helpers.h"

namespace bt_tf {

enum class AttentionMask { kNone, kBool, kAdditive };

struct AttentionInputs {
  TensorPtr q, k, v, mask, padding;
  // q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv].
  int64_t batch = 0, heads = 0, kv_heads = 0, q_len = 0, kv_len = 0, head_dim = 0, value_dim = 0;
  std::vector<int64_t> mask_shape;          // empty without a mask
  int64_t mask_strides[4] = {0, 0, 0, 0};   // element strides broadcasting the mask to [B, H, Sq, Sk]
  std::vector<uint8_t> key_valid;           // [B, Sk], nonzero = real key; empty without a padding mask
};

// Inputs at `first` .. `first + 4`. Throws InvalidArgument on any shape or dtype the ops do not accept.
void ReadAttentionInputs(TF_OpKernelContext* ctx, int first, AttentionMask mask, bool has_key_padding_mask,
                         AttentionInputs* in);

}  // namespace bt_tf

#endif  // BT_TF_ATTENTION_INPUTS_H_
