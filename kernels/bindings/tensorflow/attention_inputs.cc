#include "attention_inputs.h"

#include <string>

#include "../../shared/problem_checks.h"

namespace bt_tf {

void ReadAttentionInputs(TF_OpKernelContext* ctx, int first, AttentionMask mask, bool has_key_padding_mask,
                         AttentionInputs* in) {
  in->q = Input(ctx, first, "q", TF_FLOAT);
  in->k = Input(ctx, first + 1, "k", TF_FLOAT);
  in->v = Input(ctx, first + 2, "v", TF_FLOAT);
  in->mask = Input(ctx, first + 3, "attn_mask", static_cast<TF_DataType>(-1));
  in->padding = Input(ctx, first + 4, "key_padding_mask", static_cast<TF_DataType>(-1));
  bt_checks::AttentionDims d{};
  std::string error =
      bt_checks::AttentionShapesError(ShapeOf(in->q.get()), ShapeOf(in->k.get()), ShapeOf(in->v.get()), &d);
  if (error.empty()) error = bt_checks::AttentionDimsError(d, /*require_heads_and_depth=*/true);
  if (!error.empty()) throw InvalidArgument{error};
  in->batch = d.batch; in->heads = d.heads; in->kv_heads = d.kv_heads; in->q_len = d.q_len; in->kv_len = d.kv_len;
  in->head_dim = d.head_dim; in->value_dim = d.value_dim;
  if (mask != AttentionMask::kNone) {
    const TF_DataType want = mask == AttentionMask::kBool ? TF_BOOL : TF_FLOAT;
    if (TF_TensorType(in->mask.get()) != want) throw InvalidArgument{"attn_mask dtype does not match mask_kind"};
    in->mask_shape = ShapeOf(in->mask.get());
    const int64_t target[4] = {in->batch, in->heads, in->q_len, in->kv_len};
    error = bt_checks::MaskBroadcastStrides(in->mask_shape, target, in->mask_strides, "attn_mask");
    if (!error.empty()) throw InvalidArgument{error};
  }
  if (has_key_padding_mask) {
    RequireShape(in->padding.get(), {in->batch, in->kv_len}, "key_padding_mask");
    in->key_valid = KeyValidity(in->padding.get());
  }
}

}  // namespace bt_tf
