// TensorFlow op BtFusedTransformerEncoderStack, CPU kernel: num_layers encoder
// layers in one call to the core, which removes padding once and keeps the
// tokens packed between layers. Inputs (as FusedTransformerEncoderStack in
// src/kernel_names.ts): x, key_padding_mask, then `weights`, a list of
// N = 18 * num_layers tensors: each layer's ENCODER_WEIGHT_INPUTS in order.
#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "encoder_weights.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

constexpr int kX = 0, kKeyPadding = 1, kFirstWeight = 2;

struct StackAttrs {
  std::vector<EncoderLayerOptions> layers;
  bool has_key_padding_mask;
};

void* Create(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new StackAttrs{};
  const int32_t num_layers = r.Int("num_layers");
  const int32_t n = r.Int("N");
  if (r.ok && (num_layers < 0 || n != kEncoderWeightInputs * num_layers)) {
    auto s = NewStatus();
    TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, "weights must hold 18 tensors per layer");
    TF_OpKernelConstruction_Failure(ctx, s.get());
    return a;
  }
  EncoderLayerOptions common{};
  common.num_heads = r.Int("num_heads");
  common.norm_first = r.Bool("norm_first");
  common.causal = r.Bool("is_causal");
  common.scale = r.Float("scale");
  a->has_key_padding_mask = r.Bool("has_key_padding_mask");
  const std::string act = r.String("activation");
  if (r.ok && !ParseActivation(act, &common.activation)) {
    auto s = NewStatus();
    TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, "activation must be gelu, gelu_tanh or relu");
    TF_OpKernelConstruction_Failure(ctx, s.get());
    return a;
  }
  const std::vector<bool> packed_qkv = r.BoolList("packed_qkv", num_layers);
  const std::vector<float> eps1 = r.FloatList("eps1", num_layers), eps2 = r.FloatList("eps2", num_layers);
  if (!r.ok) return a;
  for (int32_t l = 0; l < num_layers; ++l) {
    EncoderLayerOptions layer = common;
    layer.packed_qkv = packed_qkv[l];
    layer.eps1 = eps1[l];
    layer.eps2 = eps2[l];
    a->layers.push_back(layer);
  }
  return a;
}

void Delete(void* attrs) { delete static_cast<StackAttrs*>(attrs); }

void Compute(void* attrs_ptr, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<StackAttrs*>(attrs_ptr);
    const EncoderInput input = ReadEncoderInput(ctx, kX, kKeyPadding, at.has_key_padding_mask);
    std::vector<EncoderLayerWeights> layers(at.layers.size());
    std::vector<btk_encoder_layer_params> params;
    for (size_t l = 0; l < layers.size(); ++l) {
      ReadEncoderLayerWeights(ctx, kFirstWeight + kEncoderWeightInputs * static_cast<int>(l), input.embed, at.layers[l],
                              "layer " + std::to_string(l) + ": ", &layers[l]);
      params.push_back(layers[l].params);
    }
    RunEncoderStack(ctx, input, params, "encoder stack");
  });
}

}  // namespace

void RegisterEncoderStackOp(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kEncoderStackOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  TF_OpDefinitionBuilderAddInput(b, "key_padding_mask: Tpad");
  TF_OpDefinitionBuilderAddInput(b, "weights: N * float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"N: int >= 0", "Tpad: {float, int32, bool}", "num_layers: int", "num_heads: int",
                           "norm_first: bool", "activation: string", "eps1: list(float)", "eps2: list(float)",
                           "is_causal: bool", "scale: float", "packed_qkv: list(bool)",
                           "has_key_padding_mask: bool"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
  if (TF_GetCode(status) != TF_OK) return;
  TF_KernelBuilder* k = TF_NewKernelBuilder(kEncoderStackOp, "CPU", &Create, &Compute, &Delete);
  TF_RegisterKernelBuilder(kEncoderStackOp, k, status);
}

}  // namespace bt_tf
