// TensorFlow op BtFusedTransformerEncoderLayer, CPU kernel. Inputs in the
// order of ENCODER_KERNEL_INPUTS (src/ops/transformer_encoder_layer.ts):
// x, the packed and the separate QKV weights (the unused form as [0]-shaped
// placeholders), the common weights, and the key padding mask.
#include <string>
#include <vector>

#include "attention.h"
#include "encoder_layer.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
using namespace bt;  // NOLINT: the op layer is a thin shell over the core
namespace {

enum Inputs {
  kX, kQkvWeight, kQkvBias, kQWeight, kKWeight, kVWeight, kQBias, kKBias, kVBias, kOutWeight, kOutBias,
  kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnInWeight, kFfnInBias, kFfnOutWeight, kFfnOutBias, kKeyPadding,
  kNumInputs
};

const char* const kInputNames[kNumInputs] = {
  "x", "qkv_weight", "qkv_bias", "q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias", "out_weight",
  "out_bias", "ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "ffn_in_weight", "ffn_in_bias", "ffn_out_weight",
  "ffn_out_bias", "key_padding_mask",
};

struct EncoderAttrs {
  int32_t num_heads;
  bool norm_first, causal, packed_qkv, has_key_padding_mask;
  Activation activation;
  float eps1, eps2, scale;
};

void* Create(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new EncoderAttrs{};
  a->num_heads = r.Int("num_heads");
  a->norm_first = r.Bool("norm_first");
  a->causal = r.Bool("is_causal");
  a->packed_qkv = r.Bool("packed_qkv");
  a->has_key_padding_mask = r.Bool("has_key_padding_mask");
  a->eps1 = r.Float("eps1");
  a->eps2 = r.Float("eps2");
  a->scale = r.Float("scale");
  const std::string act = r.String("activation");
  a->activation = act == "gelu_tanh" ? Activation::kGeluTanh : act == "relu" ? Activation::kRelu : Activation::kGelu;
  if (r.ok && act != "gelu" && act != "gelu_tanh" && act != "relu") {
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
    std::vector<TensorPtr> in(kNumInputs);
    for (int i = 0; i < kNumInputs; ++i) {
      in[i] = Input(ctx, i, kInputNames[i], i == kKeyPadding ? static_cast<TF_DataType>(-1) : TF_FLOAT);
    }
    const auto xs = ShapeOf(in[kX].get());
    if (xs.size() != 3) throw InvalidArgument{"x must have rank 3 [B, S, E], got " + ShapeString(xs)};
    const int64_t b = xs[0], s = xs[1], e = xs[2];
    if (e < 1 || at.num_heads < 1 || e % at.num_heads != 0) throw InvalidArgument{"E must be a multiple of num_heads"};
    const auto f_shape = ShapeOf(in[kFfnInWeight].get());
    if (f_shape.size() != 2 || f_shape[0] != e || f_shape[1] < 1) {
      throw InvalidArgument{"ffn_in_weight must have shape [E, F], got " + ShapeString(f_shape)};
    }
    const int64_t f = f_shape[1];
    const std::vector<int64_t> ee{e, e}, vec_e{e};
    if (at.packed_qkv) {
      RequireShape(in[kQkvWeight].get(), {e, 3 * e}, "qkv_weight");
      RequireShape(in[kQkvBias].get(), {3 * e}, "qkv_bias");
    } else {
      for (int i : {kQWeight, kKWeight, kVWeight}) RequireShape(in[i].get(), ee, kInputNames[i]);
      for (int i : {kQBias, kKBias, kVBias}) RequireShape(in[i].get(), vec_e, kInputNames[i]);
    }
    RequireShape(in[kOutWeight].get(), ee, "out_weight");
    for (int i : {kOutBias, kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnOutBias}) {
      RequireShape(in[i].get(), vec_e, kInputNames[i]);
    }
    RequireShape(in[kFfnInBias].get(), {f}, "ffn_in_bias");
    RequireShape(in[kFfnOutWeight].get(), {f, e}, "ffn_out_weight");
    std::vector<uint8_t> valid;
    if (at.has_key_padding_mask) {
      RequireShape(in[kKeyPadding].get(), {b, s}, "key_padding_mask");
      valid = KeyValidity(in[kKeyPadding].get());
    }
    auto data = [&](int i) { return static_cast<const float*>(TF_TensorData(in[i].get())); };
    EncoderLayerArgs a{};
    a.batch = b; a.seq = s; a.embed = e; a.ffn = f; a.num_heads = at.num_heads;
    a.norm_first = at.norm_first; a.causal = at.causal; a.activation = at.activation;
    a.eps1 = at.eps1; a.eps2 = at.eps2; a.scale = at.scale;
    a.x = data(kX);
    if (at.packed_qkv) {
      a.qkv_weight = data(kQkvWeight); a.qkv_bias = data(kQkvBias);
    } else {
      a.q_weight = data(kQWeight); a.k_weight = data(kKWeight); a.v_weight = data(kVWeight);
      a.q_bias = data(kQBias); a.k_bias = data(kKBias); a.v_bias = data(kVBias);
    }
    a.out_weight = data(kOutWeight); a.out_bias = data(kOutBias);
    a.ln1_gamma = data(kLn1Gamma); a.ln1_beta = data(kLn1Beta);
    a.ln2_gamma = data(kLn2Gamma); a.ln2_beta = data(kLn2Beta);
    a.ffn_in_weight = data(kFfnInWeight); a.ffn_in_bias = data(kFfnInBias);
    a.ffn_out_weight = data(kFfnOutWeight); a.ffn_out_bias = data(kFfnOutBias);
    a.key_valid = at.has_key_padding_mask ? valid.data() : nullptr;
    TensorPtr y = Output(ctx, 0, {b, s, e});
    EncoderLayer(a, FloatData(y.get()));
  });
}

void UnknownShape(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  (void)ctx;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace

void RegisterEncoderLayerOp(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kEncoderLayerOp);
  for (int i = 0; i < kNumInputs; ++i) {
    const std::string spec = std::string(kInputNames[i]) + (i == kKeyPadding ? ": Tpad" : ": float");
    TF_OpDefinitionBuilderAddInput(b, spec.c_str());
  }
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"Tpad: {float, int32, bool}", "num_heads: int", "norm_first: bool", "activation: string",
                           "eps1: float", "eps2: float", "is_causal: bool", "scale: float", "packed_qkv: bool",
                           "has_key_padding_mask: bool"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShape);
  TF_RegisterOpDefinition(b, status);
  if (TF_GetCode(status) != TF_OK) return;
  TF_KernelBuilder* k = TF_NewKernelBuilder(kEncoderLayerOp, "CPU", &Create, &Compute, &Delete);
  TF_RegisterKernelBuilder(kEncoderLayerOp, k, status);
}

}  // namespace bt_tf
