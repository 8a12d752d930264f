// TensorFlow op BtFusedTransformerEncoderLayer, CPU kernel. Inputs in the
// order of ENCODER_KERNEL_INPUTS (src/kernel_names.ts): x, the packed and the
// separate QKV weights (the unused form as [0]-shaped placeholders), the
// common weights, and the key padding mask.
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

constexpr int kX = 0, kFirstWeight = 1, kKeyPadding = kFirstWeight + kEncoderWeightInputs;

struct EncoderAttrs {
  EncoderLayerOptions layer;
  bool has_key_padding_mask;
};

void* Create(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new EncoderAttrs{};
  a->layer.num_heads = r.Int("num_heads");
  a->layer.norm_first = r.Bool("norm_first");
  a->layer.causal = r.Bool("is_causal");
  a->layer.packed_qkv = r.Bool("packed_qkv");
  a->has_key_padding_mask = r.Bool("has_key_padding_mask");
  a->layer.eps1 = r.Float("eps1");
  a->layer.eps2 = r.Float("eps2");
  a->layer.scale = r.Float("scale");
  const std::string act = r.String("activation");
  if (r.ok && !ParseActivation(act, &a->layer.activation)) {
    auto s = NewStatus();
    TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, "activation must be gelu, gelu_tanh or relu");
    TF_OpKernelConstruction_Failure(ctx, s.get());
  }
  return a;
}

void Delete(void* attrs) { delete static_cast<EncoderAttrs*>(attrs); }

void Compute(void* attrs_ptr, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<EncoderAttrs*>(attrs_ptr);
    const EncoderInput input = ReadEncoderInput(ctx, kX, kKeyPadding, at.has_key_padding_mask);
    EncoderLayerWeights layer;
    ReadEncoderLayerWeights(ctx, kFirstWeight, input.embed, at.layer, "", &layer);
    RunEncoderStack(ctx, input, {layer.params}, "encoder layer");
  });
}

}  // namespace

void RegisterEncoderLayerOp(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kEncoderLayerOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  for (int i = 0; i < kEncoderWeightInputs; ++i) {
    TF_OpDefinitionBuilderAddInput(b, (std::string(EncoderWeightInputNames()[i]) + ": float").c_str());
  }
  TF_OpDefinitionBuilderAddInput(b, "key_padding_mask: Tpad");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"Tpad: {float, int32, bool}", "num_heads: int", "norm_first: bool", "activation: string",
                           "eps1: float", "eps2: float", "is_causal: bool", "scale: float", "packed_qkv: bool",
                           "has_key_padding_mask: bool"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
  if (TF_GetCode(status) != TF_OK) return;
  TF_KernelBuilder* k = TF_NewKernelBuilder(kEncoderLayerOp, "CPU", &Create, &Compute, &Delete);
  TF_RegisterKernelBuilder(kEncoderLayerOp, k, status);
}

}  // namespace bt_tf
