// TensorFlow ops BtScaledDotProductAttention and BtScaledDotProductAttentionGrad:
// their definitions and CPU kernels (btk_scaled_dot_product_attention and
// btk_scaled_dot_product_attention_grad of the native core). Inputs, attributes
// and outputs mirror the tfjs kernels of the same names; absent masks arrive
// as [0]-shaped placeholders. The `precision` attribute is the GPU kernels'
// (gpu_kernels.cc): the CPU kernels compute in float32 whatever it says.
#include <cstring>
#include <string>
#include <vector>

#include "btk.h"
#include "attention_inputs.h"
#include "btk_support.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

struct AttentionAttrs {
  float scale;
  bool causal;
  AttentionMask mask_kind;
  bool has_key_padding_mask;
};

void* CreateAttention(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* attrs = new AttentionAttrs{};
  attrs->scale = r.Float("scale");
  attrs->causal = r.Bool("is_causal");
  const std::string kind = r.String("mask_kind");
  attrs->mask_kind = kind == "bool" ? AttentionMask::kBool : kind == "additive" ? AttentionMask::kAdditive : AttentionMask::kNone;
  attrs->has_key_padding_mask = r.Bool("has_key_padding_mask");
  if (r.ok && kind != "none" && kind != "bool" && kind != "additive") {
    auto s = NewStatus();
    TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, "mask_kind must be none, bool or additive");
    TF_OpKernelConstruction_Failure(ctx, s.get());
  }
  return attrs;
}

void DeleteAttention(void* attrs) { delete static_cast<AttentionAttrs*>(attrs); }

// The shared inputs as a btk problem.
struct SdpaInputs {
  AttentionInputs tensors;
  btk_sdpa_problem args{};
  const float *q_data = nullptr, *k_data = nullptr, *v_data = nullptr;
};

void ReadSdpaInputs(TF_OpKernelContext* ctx, int first, const AttentionAttrs& at, SdpaInputs* in) {
  AttentionInputs& t = in->tensors;
  ReadAttentionInputs(ctx, first, at.mask_kind, at.has_key_padding_mask, &t);
  btk_sdpa_problem& a = in->args;
  a.batch = t.batch; a.heads = t.heads; a.kv_heads = t.kv_heads; a.q_len = t.q_len; a.kv_len = t.kv_len;
  a.head_dim = t.head_dim; a.value_dim = t.value_dim;
  a.scale = at.scale;
  a.causal = at.causal;
  a.mask_kind = at.mask_kind == AttentionMask::kBool ? BTK_MASK_BOOL :
                at.mask_kind == AttentionMask::kAdditive ? BTK_MASK_FLOAT : BTK_MASK_NONE;
  if (at.mask_kind != AttentionMask::kNone) {
    for (int d = 0; d < 4; ++d) a.mask_strides[d] = t.mask_strides[d];
    a.mask = TF_TensorData(t.mask.get());
  }
  if (!t.key_valid.empty()) a.key_padding = t.key_valid.data();
  in->q_data = FloatData(t.q.get()); in->k_data = FloatData(t.k.get()); in->v_data = FloatData(t.v.get());
}

void ComputeAttention(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    SdpaInputs in;
    ReadSdpaInputs(ctx, 0, *static_cast<AttentionAttrs*>(attrs), &in);
    const btk_sdpa_problem& a = in.args;
    TensorPtr out = Output(ctx, 0, {a.batch, a.heads, a.q_len, a.value_dim});
    TensorPtr lse = Output(ctx, 1, {a.batch, a.heads, a.q_len});
    CheckBtk(btk_scaled_dot_product_attention(&a, in.q_data, in.k_data, in.v_data, FloatData(out.get()),
                                              FloatData(lse.get())),
             "attention");
  });
}

void ComputeAttentionGrad(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    TensorPtr dy = Input(ctx, 0, "dy", TF_FLOAT);
    SdpaInputs in;
    const auto& at = *static_cast<AttentionAttrs*>(attrs);
    ReadSdpaInputs(ctx, 1, at, &in);
    TensorPtr out = Input(ctx, 6, "out", TF_FLOAT);
    TensorPtr lse = Input(ctx, 7, "lse", TF_FLOAT);
    const btk_sdpa_problem& a = in.args;
    RequireShape(dy.get(), {a.batch, a.heads, a.q_len, a.value_dim}, "dy");
    RequireShape(out.get(), {a.batch, a.heads, a.q_len, a.value_dim}, "out");
    RequireShape(lse.get(), {a.batch, a.heads, a.q_len}, "lse");
    TensorPtr dq = Output(ctx, 0, {a.batch, a.heads, a.q_len, a.head_dim});
    TensorPtr dk = Output(ctx, 1, {a.batch, a.kv_heads, a.kv_len, a.head_dim});
    TensorPtr dv = Output(ctx, 2, {a.batch, a.kv_heads, a.kv_len, a.value_dim});
    const bool additive = at.mask_kind == AttentionMask::kAdditive;
    TensorPtr dmask = Output(ctx, 3, additive ? in.tensors.mask_shape : std::vector<int64_t>{0});
    float* dmask_data = additive ? FloatData(dmask.get()) : nullptr;
    // The core writes the elements the mask's strides reach; a broadcast mask has no others, but zero all first.
    if (dmask_data) std::memset(dmask_data, 0, sizeof(float) * NumElements(in.tensors.mask_shape));
    CheckBtk(btk_scaled_dot_product_attention_grad(&a, in.q_data, in.k_data, in.v_data, FloatData(out.get()),
                                                   FloatData(lse.get()), FloatData(dy.get()), FloatData(dq.get()),
                                                   FloatData(dk.get()), FloatData(dv.get()), dmask_data),
             "attention gradient");
  });
}

void AddAttentionDefinition(TF_OpDefinitionBuilder* b) {
  TF_OpDefinitionBuilderAddInput(b, "q: float");
  TF_OpDefinitionBuilderAddInput(b, "k: float");
  TF_OpDefinitionBuilderAddInput(b, "v: float");
  TF_OpDefinitionBuilderAddInput(b, "attn_mask: Tmask");
  TF_OpDefinitionBuilderAddInput(b, "key_padding_mask: Tpad");
  TF_OpDefinitionBuilderAddAttr(b, "Tmask: {float, bool}");
  TF_OpDefinitionBuilderAddAttr(b, "Tpad: {float, int32, bool}");
  TF_OpDefinitionBuilderAddAttr(b, "scale: float");
  TF_OpDefinitionBuilderAddAttr(b, "is_causal: bool");
  TF_OpDefinitionBuilderAddAttr(b, "mask_kind: string");
  TF_OpDefinitionBuilderAddAttr(b, "has_key_padding_mask: bool");
  // The GPU kernels' matrix products: 'highest' | 'high' | 'medium' (gpu_kernels.cc). Set by the
  // tfjs kernel at each call; the CPU kernels compute in float32 and ignore it.
  TF_OpDefinitionBuilderAddAttr(b, "precision: string = 'high'");
}

}  // namespace

void DefineScaledDotProductAttention(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kScaledDotProductAttentionOp);
  AddAttentionDefinition(b);
  TF_OpDefinitionBuilderAddOutput(b, "out: float");
  TF_OpDefinitionBuilderAddOutput(b, "lse: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineScaledDotProductAttentionGrad(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kScaledDotProductAttentionGradOp);
  TF_OpDefinitionBuilderAddInput(b, "dy: float");
  AddAttentionDefinition(b);
  TF_OpDefinitionBuilderAddInput(b, "out: float");
  TF_OpDefinitionBuilderAddInput(b, "lse: float");
  TF_OpDefinitionBuilderAddOutput(b, "dq: float");
  TF_OpDefinitionBuilderAddOutput(b, "dk: float");
  TF_OpDefinitionBuilderAddOutput(b, "dv: float");
  TF_OpDefinitionBuilderAddOutput(b, "dmask: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void RegisterScaledDotProductAttentionCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kScaledDotProductAttentionOp, "CPU", &CreateAttention, &ComputeAttention,
                                            &DeleteAttention);
  TF_RegisterKernelBuilder(kScaledDotProductAttentionOp, k, status);
}

void RegisterScaledDotProductAttentionGradCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kScaledDotProductAttentionGradOp, "CPU", &CreateAttention,
                                            &ComputeAttentionGrad, &DeleteAttention);
  TF_RegisterKernelBuilder(kScaledDotProductAttentionGradOp, k, status);
}

}  // namespace bt_tf
