// TensorFlow ops BtFusedScaledDotProductAttention and its gradient, CPU kernels.
// Inputs, attributes and outputs mirror the tfjs kernels of the same names
// (src/kernel_names.ts); absent masks arrive as [0]-shaped placeholders.
#include <cstring>
#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

enum class MaskKind { kNone, kBool, kAdditive };

struct AttentionAttrs {
  float scale;
  bool causal;
  MaskKind mask_kind;
  bool has_key_padding_mask;
};

void* CreateAttention(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* attrs = new AttentionAttrs{};
  attrs->scale = r.Float("scale");
  attrs->causal = r.Bool("is_causal");
  const std::string kind = r.String("mask_kind");
  attrs->mask_kind = kind == "bool" ? MaskKind::kBool : kind == "additive" ? MaskKind::kAdditive : MaskKind::kNone;
  attrs->has_key_padding_mask = r.Bool("has_key_padding_mask");
  if (r.ok && kind != "none" && kind != "bool" && kind != "additive") {
    auto s = NewStatus();
    TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, "mask_kind must be none, bool or additive");
    TF_OpKernelConstruction_Failure(ctx, s.get());
  }
  return attrs;
}

void DeleteAttention(void* attrs) { delete static_cast<AttentionAttrs*>(attrs); }

// Inputs q, k, v, attn_mask, key_padding_mask (at `first`), validated into a btk problem.
struct AttentionInputs {
  TensorPtr q, k, v, mask, padding;
  std::vector<uint8_t> key_valid;
  btk_sdpa_problem args{};
  const float *q_data = nullptr, *k_data = nullptr, *v_data = nullptr;
  std::vector<int64_t> mask_shape;
};

void ReadAttentionInputs(TF_OpKernelContext* ctx, int first, const AttentionAttrs& at, AttentionInputs* in) {
  in->q = Input(ctx, first, "q", TF_FLOAT);
  in->k = Input(ctx, first + 1, "k", TF_FLOAT);
  in->v = Input(ctx, first + 2, "v", TF_FLOAT);
  in->mask = Input(ctx, first + 3, "attn_mask", static_cast<TF_DataType>(-1));
  in->padding = Input(ctx, first + 4, "key_padding_mask", static_cast<TF_DataType>(-1));
  const auto qs = ShapeOf(in->q.get()), ks = ShapeOf(in->k.get()), vs = ShapeOf(in->v.get());
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4) throw InvalidArgument{"q, k and v must have rank 4"};
  btk_sdpa_problem& a = in->args;
  a.batch = qs[0]; a.heads = qs[1]; a.q_len = qs[2]; a.head_dim = qs[3];
  a.kv_heads = ks[1]; a.kv_len = ks[2]; a.value_dim = vs[3];
  if (ks[0] != a.batch || vs[0] != a.batch || ks[3] != a.head_dim || vs[1] != a.kv_heads || vs[2] != a.kv_len) {
    throw InvalidArgument{"q " + ShapeString(qs) + ", k " + ShapeString(ks) + " and v " + ShapeString(vs) +
                          " do not agree"};
  }
  if (a.heads < 1 || a.kv_heads < 1 || a.heads % a.kv_heads != 0 || a.head_dim < 1) {
    throw InvalidArgument{"H must be a positive multiple of Hkv, and D at least 1"};
  }
  a.scale = at.scale;
  a.causal = at.causal;
  in->q_data = FloatData(in->q.get()); in->k_data = FloatData(in->k.get()); in->v_data = FloatData(in->v.get());
  a.mask_kind = at.mask_kind == MaskKind::kBool ? BTK_MASK_BOOL :
                at.mask_kind == MaskKind::kAdditive ? BTK_MASK_FLOAT : BTK_MASK_NONE;
  if (at.mask_kind != MaskKind::kNone) {
    const TF_DataType want = at.mask_kind == MaskKind::kBool ? TF_BOOL : TF_FLOAT;
    if (TF_TensorType(in->mask.get()) != want) throw InvalidArgument{"attn_mask dtype does not match mask_kind"};
    in->mask_shape = ShapeOf(in->mask.get());
    const int64_t target[4] = {a.batch, a.heads, a.q_len, a.kv_len};
    const auto& ms = in->mask_shape;
    if (ms.size() > 4) throw InvalidArgument{"attn_mask has rank above 4"};
    int64_t stride = 1;
    for (int d = 3; d >= 0; --d) a.mask_strides[d] = 0;
    for (int i = static_cast<int>(ms.size()) - 1; i >= 0; --i) {
      const int t = 4 - static_cast<int>(ms.size()) + i;
      if (ms[i] != 1 && ms[i] != target[t]) {
        throw InvalidArgument{"attn_mask of shape " + ShapeString(ms) + " does not broadcast to [B, H, Sq, Sk]"};
      }
      a.mask_strides[t] = ms[i] == 1 ? 0 : stride;
      stride *= ms[i];
    }
    a.mask = TF_TensorData(in->mask.get());
  }
  if (at.has_key_padding_mask) {
    RequireShape(in->padding.get(), {a.batch, a.kv_len}, "key_padding_mask");
    in->key_valid = KeyValidity(in->padding.get());
    a.key_padding = in->key_valid.data();
  }
}

void ComputeAttention(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    AttentionInputs in;
    ReadAttentionInputs(ctx, 0, *static_cast<AttentionAttrs*>(attrs), &in);
    const btk_sdpa_problem& a = in.args;
    TensorPtr out = Output(ctx, 0, {a.batch, a.heads, a.q_len, a.value_dim});
    TensorPtr lse = Output(ctx, 1, {a.batch, a.heads, a.q_len});
    CheckBtk(btk_sdpa_forward(&a, in.q_data, in.k_data, in.v_data, FloatData(out.get()), FloatData(lse.get())),
             "attention");
  });
}

void ComputeAttentionGrad(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    TensorPtr dy = Input(ctx, 0, "dy", TF_FLOAT);
    AttentionInputs in;
    const auto& at = *static_cast<AttentionAttrs*>(attrs);
    ReadAttentionInputs(ctx, 1, at, &in);
    TensorPtr out = Input(ctx, 6, "out", TF_FLOAT);
    TensorPtr lse = Input(ctx, 7, "lse", TF_FLOAT);
    const btk_sdpa_problem& a = in.args;
    RequireShape(dy.get(), {a.batch, a.heads, a.q_len, a.value_dim}, "dy");
    RequireShape(out.get(), {a.batch, a.heads, a.q_len, a.value_dim}, "out");
    RequireShape(lse.get(), {a.batch, a.heads, a.q_len}, "lse");
    TensorPtr dq = Output(ctx, 0, {a.batch, a.heads, a.q_len, a.head_dim});
    TensorPtr dk = Output(ctx, 1, {a.batch, a.kv_heads, a.kv_len, a.head_dim});
    TensorPtr dv = Output(ctx, 2, {a.batch, a.kv_heads, a.kv_len, a.value_dim});
    const bool additive = at.mask_kind == MaskKind::kAdditive;
    TensorPtr dmask = Output(ctx, 3, additive ? in.mask_shape : std::vector<int64_t>{0});
    float* dmask_data = additive ? FloatData(dmask.get()) : nullptr;
    // The core writes the elements the mask's strides reach; a broadcast mask has no others, but zero all first.
    if (dmask_data) std::memset(dmask_data, 0, sizeof(float) * NumElements(in.mask_shape));
    CheckBtk(btk_sdpa_backward(&a, in.q_data, in.k_data, in.v_data, FloatData(out.get()), FloatData(lse.get()),
                               FloatData(dy.get()), FloatData(dq.get()), FloatData(dk.get()), FloatData(dv.get()),
                               dmask_data),
             "attention gradient");
  });
}

void UnknownShapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  // tfjs-node runs these ops eagerly, where kernels allocate their outputs; graph
  // shape inference is not needed, so outputs are declared of unknown shape.
  (void)ctx;
  TF_SetStatus(status, TF_OK, "");
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
}

}  // namespace

void RegisterAttentionOps(TF_Status* status) {
  {
    TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kAttentionOp);
    AddAttentionDefinition(b);
    TF_OpDefinitionBuilderAddOutput(b, "out: float");
    TF_OpDefinitionBuilderAddOutput(b, "lse: float");
    TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
    TF_RegisterOpDefinition(b, status);
    if (TF_GetCode(status) != TF_OK) return;
    TF_KernelBuilder* k = TF_NewKernelBuilder(kAttentionOp, "CPU", &CreateAttention, &ComputeAttention, &DeleteAttention);
    TF_RegisterKernelBuilder(kAttentionOp, k, status);
    if (TF_GetCode(status) != TF_OK) return;
  }
  {
    TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kAttentionGradOp);
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
    if (TF_GetCode(status) != TF_OK) return;
    TF_KernelBuilder* k =
        TF_NewKernelBuilder(kAttentionGradOp, "CPU", &CreateAttention, &ComputeAttentionGrad, &DeleteAttention);
    TF_RegisterKernelBuilder(kAttentionGradOp, k, status);
  }
}

}  // namespace bt_tf
