// DEVICE_GPU kernels of the three ops (tfjs-node-gpu), on libbt_cuda
// (kernels/cuda). Built only with BT_WITH_CUDA (tools/build-tensorflow-ops.sh
// --gpu). Op definitions, inputs, attributes and outputs are those registered by
// attention_ops.cc and encoder_op.cc; the key padding mask is read in host
// memory (its per-sequence layout is turned into tables on the host), every
// other tensor stays on the device. Precision comes from TFJS_BT_GPU_PRECISION
// ('highest', the default: FP32 math; 'high': TF32 tensor cores).
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "bt_cuda.h"
#include "gpu_stream_order.h"
#include "ops_registry.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

int PrecisionFromEnv() {
  const char* v = std::getenv("TFJS_BT_GPU_PRECISION");
  return v && std::strcmp(v, "high") == 0 ? BT_CUDA_PRECISION_HIGH : BT_CUDA_PRECISION_HIGHEST;
}

void Fail(TF_OpKernelConstruction* ctx, const char* message) {
  auto s = NewStatus();
  TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, message);
  TF_OpKernelConstruction_Failure(ctx, s.get());
}

struct GpuAttentionAttrs {
  float scale;
  bool causal, has_key_padding_mask;
  int mask_kind, precision;
};

void* CreateAttention(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new GpuAttentionAttrs{};
  a->scale = r.Float("scale");
  a->causal = r.Bool("is_causal");
  a->has_key_padding_mask = r.Bool("has_key_padding_mask");
  const std::string kind = r.String("mask_kind");
  a->mask_kind = kind == "bool" ? BT_CUDA_MASK_BOOL : kind == "additive" ? BT_CUDA_MASK_ADDITIVE : BT_CUDA_MASK_NONE;
  if (r.ok && kind != "none" && kind != "bool" && kind != "additive") Fail(ctx, "mask_kind must be none, bool or additive");
  a->precision = PrecisionFromEnv();
  return a;
}

void DeleteAttention(void* a) { delete static_cast<GpuAttentionAttrs*>(a); }

// Device scratch from TensorFlow's allocator, alive until Compute returns.
TensorPtr DeviceTemp(TF_OpKernelContext* ctx, int64_t bytes) {
  auto status = NewStatus();
  TF_AllocatorAttributes attrs{TF_ALLOCATOR_ATTRIBUTES_STRUCT_SIZE, 0};
  const int64_t dims[1] = {bytes > 0 ? bytes : 1};
  TF_Tensor* t = TF_AllocateTemp(ctx, TF_UINT8, dims, 1, &attrs, status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string("allocating scratch: ") + TF_Message(status.get())};
  return TensorPtr(t);
}

// Inputs q, k, v, attn_mask, key_padding_mask at `first`, checked like the CPU kernel checks them.
struct GpuAttentionInputs {
  TensorPtr q, k, v, mask, padding;
  std::vector<int64_t> mask_shape;
  std::vector<uint8_t> key_valid;
  std::vector<int32_t> key_limit;
  bt_cuda_attention args{};
};

void ReadInputs(TF_OpKernelContext* ctx, int first, const GpuAttentionAttrs& at, GpuAttentionInputs* in) {
  in->q = Input(ctx, first, "q", TF_FLOAT);
  in->k = Input(ctx, first + 1, "k", TF_FLOAT);
  in->v = Input(ctx, first + 2, "v", TF_FLOAT);
  in->mask = Input(ctx, first + 3, "attn_mask", static_cast<TF_DataType>(-1));
  in->padding = Input(ctx, first + 4, "key_padding_mask", static_cast<TF_DataType>(-1));
  const auto qs = ShapeOf(in->q.get()), ks = ShapeOf(in->k.get()), vs = ShapeOf(in->v.get());
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4) throw InvalidArgument{"q, k and v must have rank 4"};
  bt_cuda_attention& a = in->args;
  a.batch = qs[0]; a.heads = qs[1]; a.q_seq = qs[2]; a.depth = qs[3];
  a.kv_heads = ks[1]; a.k_seq = ks[2]; a.value_depth = vs[3];
  if (ks[0] != a.batch || vs[0] != a.batch || ks[3] != a.depth || vs[1] != a.kv_heads || vs[2] != a.k_seq) {
    throw InvalidArgument{"q " + ShapeString(qs) + ", k " + ShapeString(ks) + " and v " + ShapeString(vs) +
                          " do not agree"};
  }
  a.scale = at.scale;
  a.is_causal = at.causal;
  a.precision = at.precision;
  a.q = FloatData(in->q.get()); a.k = FloatData(in->k.get()); a.v = FloatData(in->v.get());
  a.mask_kind = at.mask_kind;
  if (at.mask_kind != BT_CUDA_MASK_NONE) {
    const TF_DataType want = at.mask_kind == BT_CUDA_MASK_BOOL ? TF_BOOL : TF_FLOAT;
    if (TF_TensorType(in->mask.get()) != want) throw InvalidArgument{"attn_mask dtype does not match mask_kind"};
    in->mask_shape = ShapeOf(in->mask.get());
    const auto& ms = in->mask_shape;
    if (ms.size() > 4) throw InvalidArgument{"attn_mask has rank above 4"};
    const int64_t target[4] = {a.batch, a.heads, a.q_seq, a.k_seq};
    int64_t stride = 1;
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
    RequireShape(in->padding.get(), {a.batch, a.k_seq}, "key_padding_mask");
    in->key_valid = KeyValidity(in->padding.get());
    // One past the last real key of each sequence: key tiles beyond it are skipped.
    in->key_limit.assign(static_cast<size_t>(a.batch), 0);
    for (int64_t b = 0; b < a.batch; ++b) {
      for (int64_t j = a.k_seq - 1; j >= 0; --j) {
        if (in->key_valid[static_cast<size_t>(b * a.k_seq + j)]) {
          in->key_limit[static_cast<size_t>(b)] = static_cast<int32_t>(j + 1);
          break;
        }
      }
    }
  }
}

// Device scratch for the key padding tables, taken before the device wait like every other
// buffer, so nothing queued earlier on TensorFlow's stream can still be using it.
TensorPtr PaddingScratch(TF_OpKernelContext* ctx, const GpuAttentionInputs& in, int64_t* limit_offset) {
  if (in.key_valid.empty()) return nullptr;
  *limit_offset = (static_cast<int64_t>(in.key_valid.size()) + 255) / 256 * 256;
  return DeviceTemp(ctx, *limit_offset + static_cast<int64_t>(in.key_limit.size() * sizeof(int32_t)));
}

// Copies the tables on our stream (after the device wait) and points the arguments at them.
void UploadPadding(bt_cuda_context* cuda, TF_Tensor* scratch, int64_t limit_offset, GpuAttentionInputs* in) {
  if (!scratch) return;
  auto* base = static_cast<uint8_t*>(TF_TensorData(scratch));
  CheckCuda(bt_cuda_upload(cuda, base, in->key_valid.data(), in->key_valid.size()), "uploading key_padding_mask");
  CheckCuda(bt_cuda_upload(cuda, base + limit_offset, in->key_limit.data(), in->key_limit.size() * sizeof(int32_t)),
            "uploading key limits");
  in->args.key_valid = base;
  in->args.key_limit = reinterpret_cast<const int32_t*>(base + limit_offset);
}

void ComputeAttention(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    GpuAttentionInputs in;
    ReadInputs(ctx, 0, *static_cast<GpuAttentionAttrs*>(attrs), &in);
    bt_cuda_attention& a = in.args;
    TensorPtr out = Output(ctx, 0, {a.batch, a.heads, a.q_seq, a.value_depth});
    TensorPtr lse = Output(ctx, 1, {a.batch, a.heads, a.q_seq});
    a.out = FloatData(out.get());
    a.lse = FloatData(lse.get());
    int64_t limit_offset = 0;
    TensorPtr padding = PaddingScratch(ctx, in, &limit_offset);
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    UploadPadding(work.context(), padding.get(), limit_offset, &in);
    CheckCuda(bt_cuda_attention_forward(work.context(), &a, nullptr), "attention forward");
    work.Finish();
  });
}

void ComputeAttentionGrad(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuAttentionAttrs*>(attrs);
    TensorPtr dy = Input(ctx, 0, "dy", TF_FLOAT);
    GpuAttentionInputs in;
    ReadInputs(ctx, 1, at, &in);
    TensorPtr out = Input(ctx, 6, "out", TF_FLOAT);
    TensorPtr lse = Input(ctx, 7, "lse", TF_FLOAT);
    bt_cuda_attention& a = in.args;
    RequireShape(dy.get(), {a.batch, a.heads, a.q_seq, a.value_depth}, "dy");
    RequireShape(out.get(), {a.batch, a.heads, a.q_seq, a.value_depth}, "out");
    RequireShape(lse.get(), {a.batch, a.heads, a.q_seq}, "lse");
    TensorPtr dq = Output(ctx, 0, {a.batch, a.heads, a.q_seq, a.depth});
    TensorPtr dk = Output(ctx, 1, {a.batch, a.kv_heads, a.k_seq, a.depth});
    TensorPtr dv = Output(ctx, 2, {a.batch, a.kv_heads, a.k_seq, a.value_depth});
    const bool additive = at.mask_kind == BT_CUDA_MASK_ADDITIVE;
    TensorPtr dmask = Output(ctx, 3, additive ? in.mask_shape : std::vector<int64_t>{0});
    bt_cuda_attention_grad g{};
    g.dout = FloatData(dy.get());
    g.out = FloatData(out.get());
    g.lse = FloatData(lse.get());
    g.dq = FloatData(dq.get());
    g.dk = FloatData(dk.get());
    g.dv = FloatData(dv.get());
    g.dmask = additive ? FloatData(dmask.get()) : nullptr;
    g.dmask_elements = additive ? NumElements(in.mask_shape) : 0;
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_attention_backward_workspace_bytes(&a, &ws_bytes), "attention backward");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    int64_t limit_offset = 0;
    TensorPtr padding = PaddingScratch(ctx, in, &limit_offset);
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    UploadPadding(work.context(), padding.get(), limit_offset, &in);
    CheckCuda(bt_cuda_attention_backward(work.context(), &a, &g, TF_TensorData(ws.get()), ws_bytes, nullptr),
              "attention backward");
    work.Finish();
  });
}

// ---- encoder layer ----

enum EncoderInputs {
  kX, kQkvWeight, kQkvBias, kQWeight, kKWeight, kVWeight, kQBias, kKBias, kVBias, kOutWeight, kOutBias,
  kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnInWeight, kFfnInBias, kFfnOutWeight, kFfnOutBias, kKeyPadding,
  kNumEncoderInputs
};

struct GpuEncoderAttrs {
  int32_t num_heads;
  bool norm_first, causal, packed_qkv, has_key_padding_mask;
  int activation, precision;
  float eps1, eps2, scale;
};

void* CreateEncoder(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new GpuEncoderAttrs{};
  a->num_heads = r.Int("num_heads");
  a->norm_first = r.Bool("norm_first");
  a->causal = r.Bool("is_causal");
  a->packed_qkv = r.Bool("packed_qkv");
  a->has_key_padding_mask = r.Bool("has_key_padding_mask");
  a->eps1 = r.Float("eps1");
  a->eps2 = r.Float("eps2");
  a->scale = r.Float("scale");
  const std::string act = r.String("activation");
  a->activation = act == "gelu_tanh" ? BT_CUDA_GELU_TANH : act == "relu" ? BT_CUDA_RELU : BT_CUDA_GELU;
  if (r.ok && act != "gelu" && act != "gelu_tanh" && act != "relu") Fail(ctx, "activation must be gelu, gelu_tanh or relu");
  a->precision = PrecisionFromEnv();
  return a;
}

void DeleteEncoder(void* a) { delete static_cast<GpuEncoderAttrs*>(a); }

void ComputeEncoder(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuEncoderAttrs*>(attrs);
    std::vector<TensorPtr> in(kNumEncoderInputs);
    for (int i = 0; i < kNumEncoderInputs; ++i) {
      in[i] = Input(ctx, i, "encoder input", i == kKeyPadding ? static_cast<TF_DataType>(-1) : TF_FLOAT);
    }
    const auto xs = ShapeOf(in[kX].get());
    if (xs.size() != 3) throw InvalidArgument{"x must have rank 3 [B, S, E], got " + ShapeString(xs)};
    const int64_t b = xs[0], s = xs[1], e = xs[2];
    if (e < 1 || at.num_heads < 1 || e % at.num_heads != 0) throw InvalidArgument{"E must be a multiple of num_heads"};
    const auto fs = ShapeOf(in[kFfnInWeight].get());
    if (fs.size() != 2 || fs[0] != e || fs[1] < 1) throw InvalidArgument{"ffn_in_weight must have shape [E, F]"};
    const int64_t f = fs[1];
    if (at.packed_qkv) {
      RequireShape(in[kQkvWeight].get(), {e, 3 * e}, "qkv_weight");
      RequireShape(in[kQkvBias].get(), {3 * e}, "qkv_bias");
    } else {
      for (int i : {kQWeight, kKWeight, kVWeight}) RequireShape(in[i].get(), {e, e}, "q/k/v weight");
      for (int i : {kQBias, kKBias, kVBias}) RequireShape(in[i].get(), {e}, "q/k/v bias");
    }
    RequireShape(in[kOutWeight].get(), {e, e}, "out_weight");
    for (int i : {kOutBias, kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnOutBias}) {
      RequireShape(in[i].get(), {e}, "bias or LayerNorm parameter");
    }
    RequireShape(in[kFfnInBias].get(), {f}, "ffn_in_bias");
    RequireShape(in[kFfnOutWeight].get(), {f, e}, "ffn_out_weight");
    std::vector<uint8_t> valid;
    if (at.has_key_padding_mask) {
      RequireShape(in[kKeyPadding].get(), {b, s}, "key_padding_mask");
      valid = KeyValidity(in[kKeyPadding].get());
    }
    auto data = [&](int i) { return static_cast<const float*>(TF_TensorData(in[i].get())); };
    bt_cuda_encoder a{};
    a.batch = b; a.seq = s; a.embed = e; a.ffn = f; a.num_heads = at.num_heads;
    a.norm_first = at.norm_first; a.is_causal = at.causal; a.activation = at.activation; a.precision = at.precision;
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
    a.key_valid_host = at.has_key_padding_mask ? valid.data() : nullptr;
    TensorPtr y = Output(ctx, 0, {b, s, e});
    a.y = FloatData(y.get());
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_encoder_workspace_bytes(&a, &ws_bytes), "encoder layer");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_encoder_layer(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr), "encoder layer");
    work.Finish();
  });
}

void RegisterGpuKernel(const char* op, void* (*create)(TF_OpKernelConstruction*),
                       void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*), TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(op, "GPU", create, compute, destroy);
  TF_KernelBuilder_HostMemory(k, "key_padding_mask");
  TF_RegisterKernelBuilder(op, k, status);
}

}  // namespace

void RegisterGpuKernels(TF_Status* status) {
  RegisterGpuKernel(kAttentionOp, &CreateAttention, &ComputeAttention, &DeleteAttention, status);
  if (TF_GetCode(status) != TF_OK) return;
  RegisterGpuKernel(kAttentionGradOp, &CreateAttention, &ComputeAttentionGrad, &DeleteAttention, status);
  if (TF_GetCode(status) != TF_OK) return;
  RegisterGpuKernel(kEncoderLayerOp, &CreateEncoder, &ComputeEncoder, &DeleteEncoder, status);
}

}  // namespace bt_tf
