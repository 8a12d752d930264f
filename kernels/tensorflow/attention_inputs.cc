#include "attention_inputs.h"

#include <string>

namespace bt_tf {

void ReadAttentionInputs(TF_OpKernelContext* ctx, int first, AttentionMask mask, bool has_key_padding_mask,
                         AttentionInputs* in) {
  in->q = Input(ctx, first, "q", TF_FLOAT);
  in->k = Input(ctx, first + 1, "k", TF_FLOAT);
  in->v = Input(ctx, first + 2, "v", TF_FLOAT);
  in->mask = Input(ctx, first + 3, "attn_mask", static_cast<TF_DataType>(-1));
  in->padding = Input(ctx, first + 4, "key_padding_mask", static_cast<TF_DataType>(-1));
  const auto qs = ShapeOf(in->q.get()), ks = ShapeOf(in->k.get()), vs = ShapeOf(in->v.get());
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4) throw InvalidArgument{"q, k and v must have rank 4"};
  in->batch = qs[0]; in->heads = qs[1]; in->q_len = qs[2]; in->head_dim = qs[3];
  in->kv_heads = ks[1]; in->kv_len = ks[2]; in->value_dim = vs[3];
  if (ks[0] != in->batch || vs[0] != in->batch || ks[3] != in->head_dim || vs[1] != in->kv_heads ||
      vs[2] != in->kv_len) {
    throw InvalidArgument{"q " + ShapeString(qs) + ", k " + ShapeString(ks) + " and v " + ShapeString(vs) +
                          " do not agree"};
  }
  if (in->heads < 1 || in->kv_heads < 1 || in->heads % in->kv_heads != 0 || in->head_dim < 1) {
    throw InvalidArgument{"H must be a positive multiple of Hkv, and D at least 1"};
  }
  if (mask != AttentionMask::kNone) {
    const TF_DataType want = mask == AttentionMask::kBool ? TF_BOOL : TF_FLOAT;
    if (TF_TensorType(in->mask.get()) != want) throw InvalidArgument{"attn_mask dtype does not match mask_kind"};
    in->mask_shape = ShapeOf(in->mask.get());
    const auto& ms = in->mask_shape;
    if (ms.size() > 4) throw InvalidArgument{"attn_mask has rank above 4"};
    const int64_t target[4] = {in->batch, in->heads, in->q_len, in->kv_len};
    int64_t stride = 1;
    for (int i = static_cast<int>(ms.size()) - 1; i >= 0; --i) {
      const int t = 4 - static_cast<int>(ms.size()) + i;
      if (ms[i] != 1 && ms[i] != target[t]) {
        throw InvalidArgument{"attn_mask of shape " + ShapeString(ms) + " does not broadcast to [B, H, Sq, Sk]"};
      }
      in->mask_strides[t] = ms[i] == 1 ? 0 : stride;
      stride *= ms[i];
    }
  }
  if (has_key_padding_mask) {
    RequireShape(in->padding.get(), {in->batch, in->kv_len}, "key_padding_mask");
    in->key_valid = KeyValidity(in->padding.get());
  }
}

}  // namespace bt_tf
