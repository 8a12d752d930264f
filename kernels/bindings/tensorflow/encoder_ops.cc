// TensorFlow ops BtTransformerEncoderLayer and BtTransformerEncoderStack: their
// definitions and CPU kernels, over the native core's
// btk_transformer_encoder_layer and btk_transformer_encoder_stack (which
// removes padding once and keeps the tokens packed between layers). Inputs,
// attributes and outputs mirror the tfjs kernels of the same names; the
// inputs are laid out in encoder_inputs.h. The `precision` attribute is the GPU
// kernels' (gpu_kernels.cc): the CPU kernels compute in float32 whatever it says.
#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "encoder_inputs.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

void* CreateLayer(TF_OpKernelConstruction* ctx) {
  auto* attrs = new EncoderOpAttrs{};
  ReadEncoderLayerAttrs(ctx, attrs);
  return attrs;
}

void* CreateStack(TF_OpKernelConstruction* ctx) {
  auto* attrs = new EncoderOpAttrs{};
  ReadEncoderStackAttrs(ctx, attrs);
  return attrs;
}

void Delete(void* attrs) { delete static_cast<EncoderOpAttrs*>(attrs); }

// Output 0 = the op's layers applied to x by the core.
void Compute(void* attrs_ptr, TF_OpKernelContext* ctx, const EncoderInputLayout& layout, bool stack) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<EncoderOpAttrs*>(attrs_ptr);
    const EncoderInput input = ReadEncoderInput(ctx, layout, at);
    std::vector<EncoderLayerWeights> layers(at.layers.size());
    std::vector<btk_encoder_layer_params> params;
    for (size_t l = 0; l < layers.size(); ++l) {
      ReadEncoderLayerWeights(ctx, layout.first_weight + kEncoderWeightInputs * static_cast<int>(l), input.embed,
                              at.layers[l], stack ? "layer " + std::to_string(l) + ": " : "", &layers[l]);
      params.push_back(layers[l].params);
    }
    TensorPtr y = Output(ctx, 0, {input.batch, input.seq, input.embed});
    const float* x = FloatData(input.x.get());
    const uint8_t* key_valid = input.key_valid.empty() ? nullptr : input.key_valid.data();
    const float* bias = input.attention_bias ? FloatData(input.attention_bias.get()) : nullptr;
    if (stack) {
      CheckBtk(btk_transformer_encoder_stack(params.data(), static_cast<int64_t>(params.size()), x, input.batch,
                                             input.seq, input.embed, key_valid, bias, input.bias_batch, FloatData(y.get())),
               "encoder stack");
    } else {
      CheckBtk(btk_transformer_encoder_layer(&params[0], x, input.batch, input.seq, input.embed, key_valid, bias,
                                             input.bias_batch, FloatData(y.get())),
               "encoder layer");
    }
  });
}

void ComputeLayer(void* attrs, TF_OpKernelContext* ctx) { Compute(attrs, ctx, kEncoderLayerInputs, false); }
void ComputeStack(void* attrs, TF_OpKernelContext* ctx) { Compute(attrs, ctx, kEncoderStackInputs, true); }

}  // namespace

void DefineTransformerEncoderLayer(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kTransformerEncoderLayerOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  for (int i = 0; i < kEncoderWeightInputs; ++i) {
    TF_OpDefinitionBuilderAddInput(b, (std::string(EncoderWeightInputNames()[i]) + ": float").c_str());
  }
  TF_OpDefinitionBuilderAddInput(b, "key_padding_mask: Tpad");
  TF_OpDefinitionBuilderAddInput(b, "attention_bias: float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"Tpad: {float, int32, bool}", "num_heads: int", "norm_first: bool", "activation: string",
                           "eps1: float", "eps2: float", "is_causal: bool", "scale: float", "packed_qkv: bool",
                           "has_key_padding_mask: bool", "norm_kind: string = 'layer'", "gated_mlp: bool = false",
                           "has_attention_bias: bool = false", "precision: string = 'high'"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineTransformerEncoderStack(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kTransformerEncoderStackOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  TF_OpDefinitionBuilderAddInput(b, "key_padding_mask: Tpad");
  TF_OpDefinitionBuilderAddInput(b, "attention_bias: float");
  TF_OpDefinitionBuilderAddInput(b, "weights: N * float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"N: int >= 0", "Tpad: {float, int32, bool}", "num_layers: int", "num_heads: int",
                           "norm_first: bool", "activation: string", "eps1: list(float)", "eps2: list(float)",
                           "is_causal: bool", "scale: float", "packed_qkv: list(bool)",
                           "has_key_padding_mask: bool", "norm_kind: string = 'layer'", "gated_mlp: bool = false",
                           "has_attention_bias: bool = false", "precision: string = 'high'"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void RegisterTransformerEncoderLayerCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kTransformerEncoderLayerOp, "CPU", &CreateLayer, &ComputeLayer, &Delete);
  TF_RegisterKernelBuilder(kTransformerEncoderLayerOp, k, status);
}

void RegisterTransformerEncoderStackCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kTransformerEncoderStackOp, "CPU", &CreateStack, &ComputeStack, &Delete);
  TF_RegisterKernelBuilder(kTransformerEncoderStackOp, k, status);
}

}  // namespace bt_tf
