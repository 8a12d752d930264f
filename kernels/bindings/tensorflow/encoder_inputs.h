// The attributes and inputs the encoder ops' CPU and GPU kernels share, read
// and checked once: BtTransformerEncoderLayer (x, the 20 weight inputs of one
// layer, key_padding_mask, attention_bias) and BtTransformerEncoderStack (x,
// key_padding_mask, attention_bias, then `weights`: 20 inputs per layer,
// consecutive). A layer's 20 inputs are the tfjs kernels' ENCODER_WEIGHT_INPUTS:
// packed QKV, separate QKV, then the common weights and the gate; the unused QKV
// form, absent biases and betas, the gate of a plain MLP, an absent key padding
// mask or attention bias are [0]-shaped placeholders.
//
// The size rules shared with the other front ends come from
// kernels/shared/problem_checks.h.
#ifndef TFJS_BT_TENSORFLOW_ENCODER_INPUTS_H_
#define TFJS_BT_TENSORFLOW_ENCODER_INPUTS_H_

#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "packed_weight_cache.h"
#include "tf_helpers.h"

namespace bt_tf {

constexpr int kEncoderWeightInputs = 20;

// A layer's weight inputs, in input order.
enum EncoderWeight {
  kQkvWeight, kQkvBias, kQWeight, kKWeight, kVWeight, kQBias, kKBias, kVBias, kOutWeight, kOutBias,
  kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnInWeight, kFfnInBias, kFfnOutWeight, kFfnOutBias,
  kGateWeight, kGateBias,
};

// Per-layer options from the op's attributes.
struct EncoderLayerOptions {
  int32_t num_heads;
  bool norm_first, causal, packed_qkv;
  btk_activation activation;
  float eps1, eps2, scale;
  btk_norm_kind norm_kind;  // norm_kind attribute: 'layer' or 'rms'
  bool gated_mlp;
};

// The attributes of either op: one layer's options for the layer op, num_layers for the stack op.
struct EncoderOpAttrs {
  std::vector<EncoderLayerOptions> layers;
  bool has_key_padding_mask = false;
  bool has_attention_bias = false;
};

// Read at kernel construction; a bad attribute fails the construction (false is returned).
bool ReadEncoderLayerAttrs(TF_OpKernelConstruction* ctx, EncoderOpAttrs* attrs);
bool ReadEncoderStackAttrs(TF_OpKernelConstruction* ctx, EncoderOpAttrs* attrs);

// Where each op's inputs are.
struct EncoderInputLayout {
  int x, key_padding, attention_bias, first_weight;
};
constexpr EncoderInputLayout kEncoderLayerInputs{0, 1 + kEncoderWeightInputs, 2 + kEncoderWeightInputs, 1};
constexpr EncoderInputLayout kEncoderStackInputs{0, 1, 2, 3};

// x [B, S, E], when the op has one its key padding mask [B, S] (read on the host), and when it
// has one the attention bias [1 or B, H, S, S] (its data not read: it may be device memory).
struct EncoderInput {
  TensorPtr x;
  int64_t batch = 0, seq = 0, embed = 0;
  std::vector<uint8_t> key_valid;  // empty without a key padding mask
  TensorPtr attention_bias;        // null without one
  int64_t bias_batch = 0;          // 0 (none), 1 or B
};

EncoderInput ReadEncoderInput(TF_OpKernelContext* ctx, const EncoderInputLayout& layout, const EncoderOpAttrs& attrs);

// One layer's weight inputs (first .. first + 19), their shapes checked against E and the
// layer's options; their data is not read (it may be device memory). `label` prefixes
// error messages (e.g. "layer 2: "). Biases and betas may be placeholders (absent: 0);
// with norm_kind 'rms' the betas must be; the gate is required exactly when gated_mlp.
struct EncoderLayerInputs {
  std::vector<TensorPtr> tensors;  // kEncoderWeightInputs, in input order
  int64_t ffn = 0;                 // F, the FFN width (columns of ffn_in_weight)
  bool Present(int i) const { return !IsPlaceholder(tensors[i].get()); }
};

void ReadEncoderLayerInputs(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                            const std::string& label, EncoderLayerInputs* layer);

// A layer's inputs packed for the native core; keep it alive while the core runs.
struct EncoderLayerWeights {
  EncoderLayerInputs inputs;  // a weight input kept by the pack cache is null here
  std::vector<SharedPackedWeight> packed;
  btk_encoder_layer_params params{};
};

void ReadEncoderLayerWeights(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                             const std::string& label, EncoderLayerWeights* layer);

// The activation attribute's btk value; false for an unknown name.
bool ParseActivation(const std::string& name, btk_activation* activation);

// The 20 weight input names, in input order.
const char* const* EncoderWeightInputNames();

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_ENCODER_INPUTS_H_
