// One encoder layer's weight inputs (the 18 of ENCODER_WEIGHT_INPUTS in
// src/kernel_names.ts: packed QKV, separate QKV, then the common weights; the
// unused QKV form as [0]-shaped placeholders), validated and packed for the
// core. Shared by the layer op and the stack op, whose layers are consecutive
// runs of these inputs.
#ifndef TFJS_BT_TENSORFLOW_ENCODER_WEIGHTS_H_
#define TFJS_BT_TENSORFLOW_ENCODER_WEIGHTS_H_

#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "packed_weight_cache.h"
#include "tf_helpers.h"

namespace bt_tf {

constexpr int kEncoderWeightInputs = 18;

// Per-layer options from the op's attributes.
struct EncoderLayerOptions {
  int32_t num_heads;
  bool norm_first, causal, packed_qkv;
  btk_activation activation;
  float eps1, eps2, scale;
};

// The inputs and packed weights one layer's btk params point into; keep it alive while the core runs.
struct EncoderLayerWeights {
  std::vector<TensorPtr> inputs;  // a weight input kept by the pack cache is null here
  std::vector<SharedPackedWeight> packed;
  btk_encoder_layer_params params{};
};

// Reads inputs first .. first + 17 of the op for a layer of embedding size e.
// `label` prefixes error messages (e.g. "layer 2: ").
void ReadEncoderLayerWeights(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                             const std::string& label, EncoderLayerWeights* layer);

// x [B, S, E] and, when the op has one, its key padding mask [B, S]: the
// inputs the layer op and the stack op share besides their weights.
struct EncoderInput {
  TensorPtr x;
  int64_t batch = 0, seq = 0, embed = 0;
  std::vector<uint8_t> key_valid;  // empty without a key padding mask
};

EncoderInput ReadEncoderInput(TF_OpKernelContext* ctx, int x_input, int padding_input, bool has_key_padding_mask);

// Output 0 = the layers applied to `input` by the core's encoder stack (padding removed once).
void RunEncoderStack(TF_OpKernelContext* ctx, const EncoderInput& input,
                     const std::vector<btk_encoder_layer_params>& layers, const char* what);

// The activation attribute's btk value; false for an unknown name.
bool ParseActivation(const std::string& name, btk_activation* activation);

// The 18 weight input names, in input order.
const char* const* EncoderWeightInputNames();

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_ENCODER_WEIGHTS_H_
