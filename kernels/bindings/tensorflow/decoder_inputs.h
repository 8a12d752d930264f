// The attributes and inputs the decoding ops' CPU and GPU kernels share, read
// and checked once (every check that protects memory: shapes against one
// another, lengths, ids and positions against the caches and tables):
//   BtRmsNorm                 x [..., W], gamma [W]
//   BtRotaryEmbedding         x [B, H, S, D], positions [B, S] int32, cos, sin [P, rotary_dim / 2]
//   BtAttentionWithKVCache    q, k, v, key_cache, value_cache, past_lengths, new_lengths
//   BtTransformerDecoderStack input_ids, past_lengths, new_lengths, key_cache, value_cache,
//                             source_mask (int32), cross_key_cache, cross_value_cache, then
//                             `weights`: the 12 float global tensors and 30 per layer
//                             (DECODER_STACK_INPUTS / DECODER_LAYER_INPUTS of src/op_table/attrs.ts
//                             less the ids, lengths and caches; [0]-shaped placeholders for absent ones).
//   BtReorderCache            key_cache, value_cache, lengths, source_rows
// Lengths, ids and positions are read on the host (CPU kernels; HostMemory inputs of the GPU
// kernels); no other tensor's data is read here (on a GPU it is device memory). The value rules
// are decoder_checks.h's, shared with the CUDA ABI.
#ifndef TFJS_BT_TENSORFLOW_DECODER_INPUTS_H_
#define TFJS_BT_TENSORFLOW_DECODER_INPUTS_H_

#include <string>
#include <vector>

#include "btk.h"
#include "tf_helpers.h"

namespace bt_tf {

// ---- BtRmsNorm ----

struct RmsNormInputs {
  TensorPtr x, gamma;
  int64_t rows = 0, width = 0;
};
void ReadRmsNormInputs(TF_OpKernelContext* ctx, RmsNormInputs* in);

// ---- BtRotaryEmbedding ----

struct RotaryInputs {
  TensorPtr x, positions, cos, sin;
  int64_t batch = 0, heads = 0, seq = 0, head_dim = 0, table_rows = 0;
  std::vector<int32_t> position_values;  // [B * S], host copy
};
void ReadRotaryInputs(TF_OpKernelContext* ctx, int32_t rotary_dim, RotaryInputs* in);

// ---- BtAttentionWithKVCache ----

struct KvCacheInputs {
  TensorPtr q, k, v, key_cache, value_cache;
  // q [B, H, N, D], k [B, Hkv, N, D], v [B, Hkv, N, Dv], caches [B, Hkv, C, D] and [B, Hkv, C, Dv].
  int64_t batch = 0, heads = 0, kv_heads = 0, new_len = 0, capacity = 0, head_dim = 0, value_dim = 0;
  std::vector<int32_t> past, fresh;  // [B], host copies
};
void ReadKvCacheInputs(TF_OpKernelContext* ctx, KvCacheInputs* in);

// ---- BtTransformerDecoderStack ----

constexpr int kDecoderGlobalInputs = 12;
constexpr int kDecoderLayerInputs = 30;
// input_ids, past_lengths, new_lengths, key_cache, value_cache, source_mask, cross_key_cache, cross_value_cache
constexpr int kDecoderFirstWeight = 8;

// The global tensors of `weights`, in order.
enum DecoderGlobal {
  kWordEmbeddings, kPositionEmbeddings, kRotaryCos, kRotarySin, kFinalNormGamma, kFinalNormBeta, kLmHead, kLmHeadBias,
  kPositionBias, kEncoderStates, kEmbeddingNormGamma, kEmbeddingNormBeta,
};

// One layer's tensors, in order (DECODER_LAYER_INPUTS); a namespace of their own, apart from the
// encoder's weight names (encoder_inputs.h).
namespace decoder_layer {
enum Weight {
  kNorm1Gamma, kNorm1Beta, kNorm2Gamma, kNorm2Beta, kQkvWeight, kQkvBias, kQWeight, kQBias, kKWeight, kKBias,
  kVWeight, kVBias, kOutWeight, kOutBias, kGateWeight, kGateBias, kUpWeight, kUpBias, kDownWeight, kDownBias,
  kCrossNormGamma, kCrossNormBeta, kCrossQWeight, kCrossQBias, kCrossKWeight, kCrossKBias, kCrossVWeight, kCrossVBias,
  kCrossOutWeight, kCrossOutBias,
};
}  // namespace decoder_layer

struct DecoderOpAttrs {
  int32_t num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0, position_offset = 0, rotary_dim = 0;
  bool norm_first = true, parallel = false, parallel_shared_norm = false, gated_mlp = false, packed_qkv = false;
  bool rotary_interleaved = false, has_final_norm = false, lm_head_transposed = false;
  bool logits_all = false;  // logits_rows 'all' (else 'last')
  bool bf16_weights = false;  // weight_precision 'bfloat16' (else 'float32')
  btk_norm_kind norm_kind = BTK_NORM_LAYER;
  btk_activation activation = BTK_ACTIVATION_GELU_TANH;
  float scale = 1, embedding_scale = 1, final_norm_eps = 1e-5f;
  std::vector<float> eps1, eps2, eps_cross;  // per layer
  // Encoder-decoder models: cross-attention in every layer (its caches filled from encoder_states
  // when fill_cross_cache), a source mask, T5's position bias.
  bool cross_attention = false, fill_cross_cache = false, has_source_mask = false, has_position_bias = false;
  bool has_embedding_norm = false;  // BART's layernorm_embedding before layer 0
  float embedding_norm_eps = 1e-5f;
  bool embedding_norm_before_positions = false;  // BlenderbotSmall: norm(word) + position
};

// Read at kernel construction; a bad attribute fails the construction (false is returned).
bool ReadDecoderStackAttrs(TF_OpKernelConstruction* ctx, DecoderOpAttrs* attrs);

struct DecoderStackInputs {
  TensorPtr key_cache, value_cache, cross_key_cache, cross_value_cache;
  std::vector<TensorPtr> globals;              // kDecoderGlobalInputs
  std::vector<std::vector<TensorPtr>> layers;  // kDecoderLayerInputs each
  std::vector<int32_t> input_ids, past, fresh;  // host copies: [B * N], [B], [B]
  int64_t batch = 0, new_len = 0, capacity = 0, vocab = 0, embed = 0, ffn = 0;
  int64_t position_rows = 0;  // learned position rows (0: none)
  int64_t rotary_rows = 0;    // rotary table rows (0: no rotary)
  int64_t source_len = 0;     // cross caches [layers, B, Hkv, S, D] (cross_attention only)
  int64_t position_bias_rows = 0;  // position_bias [H, P] (0: none)
  std::vector<int32_t> source_mask;  // host copy [B * S] (has_source_mask only)
  // A tensor of `weights` that may be a placeholder: null data when it is one.
  bool Present(const TensorPtr& t) const { return t && !IsPlaceholder(t.get()); }
};

void ReadDecoderStackInputs(TF_OpKernelContext* ctx, const DecoderOpAttrs& attrs, DecoderStackInputs* in);

// ---- BtReorderCache ----

struct ReorderCacheInputs {
  TensorPtr key_cache, value_cache;
  int64_t layers = 0, batch = 0, kv_heads = 0, capacity = 0, head_dim = 0;
  std::vector<int32_t> lengths, source_rows;  // host copies [B]
};
void ReadReorderCacheInputs(TF_OpKernelContext* ctx, ReorderCacheInputs* in);

// The activation attribute of the decoder ('gelu', 'gelu_tanh', 'relu', 'silu'); false for another name.
bool ParseDecoderActivation(const std::string& name, btk_activation* activation);

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_DECODER_INPUTS_H_
