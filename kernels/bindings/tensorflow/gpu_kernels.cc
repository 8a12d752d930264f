// DEVICE_GPU kernels of the four ops (tfjs-node-gpu), on libbt_cuda
// (kernels/cuda, C ABI kernels/include/bt_cuda.h): each op calls the
// bt_cuda function of its name. Built only with BT_WITH_CUDA
// (tools/build-tensorflow-ops.sh --gpu). Op definitions, inputs, attributes and
// outputs are those of attention_ops.cc and encoder_ops.cc, and the inputs are
// read and checked by the same code as on the CPU (attention_inputs.h,
// encoder_inputs.h); the key padding mask is read in host memory (its
// per-sequence layout is turned into tables on the host), every other tensor
// stays on the device. Precision comes from TFJS_BT_GPU_PRECISION ('highest',
// the default: FP32 math; 'high': TF32 tensor cores).
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "attention_inputs.h"
#include "bt_cuda.h"
#include "encoder_inputs.h"
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

// The shared inputs (read and checked as on CPU) as bt_cuda_attention
// arguments, plus each sequence's key limit for skipping padded key tiles.
struct GpuAttentionInputs {
  AttentionInputs tensors;
  std::vector<int32_t> key_limit;
  bt_cuda_attention args{};
};

void ReadInputs(TF_OpKernelContext* ctx, int first, const GpuAttentionAttrs& at, GpuAttentionInputs* in) {
  AttentionInputs& t = in->tensors;
  const AttentionMask mask = at.mask_kind == BT_CUDA_MASK_BOOL ? AttentionMask::kBool :
                             at.mask_kind == BT_CUDA_MASK_ADDITIVE ? AttentionMask::kAdditive : AttentionMask::kNone;
  ReadAttentionInputs(ctx, first, mask, at.has_key_padding_mask, &t);
  bt_cuda_attention& a = in->args;
  a.batch = t.batch; a.heads = t.heads; a.q_seq = t.q_len; a.depth = t.head_dim;
  a.kv_heads = t.kv_heads; a.k_seq = t.kv_len; a.value_depth = t.value_dim;
  a.scale = at.scale;
  a.is_causal = at.causal;
  a.precision = at.precision;
  a.q = FloatData(t.q.get()); a.k = FloatData(t.k.get()); a.v = FloatData(t.v.get());
  a.mask_kind = at.mask_kind;
  if (mask != AttentionMask::kNone) {
    for (int d = 0; d < 4; ++d) a.mask_strides[d] = t.mask_strides[d];
    a.mask = TF_TensorData(t.mask.get());
  }
  if (!t.key_valid.empty()) {
    // One past the last real key of each sequence: key tiles beyond it are skipped.
    in->key_limit.assign(static_cast<size_t>(a.batch), 0);
    for (int64_t b = 0; b < a.batch; ++b) {
      for (int64_t j = a.k_seq - 1; j >= 0; --j) {
        if (t.key_valid[static_cast<size_t>(b * a.k_seq + j)]) {
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
  if (in.tensors.key_valid.empty()) return nullptr;
  *limit_offset = (static_cast<int64_t>(in.tensors.key_valid.size()) + 255) / 256 * 256;
  return DeviceTemp(ctx, *limit_offset + static_cast<int64_t>(in.key_limit.size() * sizeof(int32_t)));
}

// Copies the tables on our stream (after the device wait) and points the arguments at them.
void UploadPadding(bt_cuda_context* cuda, TF_Tensor* scratch, int64_t limit_offset, GpuAttentionInputs* in) {
  if (!scratch) return;
  auto* base = static_cast<uint8_t*>(TF_TensorData(scratch));
  const std::vector<uint8_t>& valid = in->tensors.key_valid;
  CheckCuda(bt_cuda_upload(cuda, base, valid.data(), valid.size()), "uploading key_padding_mask");
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
    CheckCuda(bt_cuda_scaled_dot_product_attention(work.context(), &a, nullptr), "attention forward");
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
    TensorPtr dmask = Output(ctx, 3, additive ? in.tensors.mask_shape : std::vector<int64_t>{0});
    bt_cuda_attention_grad g{};
    g.dout = FloatData(dy.get());
    g.out = FloatData(out.get());
    g.lse = FloatData(lse.get());
    g.dq = FloatData(dq.get());
    g.dk = FloatData(dk.get());
    g.dv = FloatData(dv.get());
    g.dmask = additive ? FloatData(dmask.get()) : nullptr;
    g.dmask_elements = additive ? NumElements(in.tensors.mask_shape) : 0;
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_scaled_dot_product_attention_grad_workspace_bytes(&a, &ws_bytes), "attention backward");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    int64_t limit_offset = 0;
    TensorPtr padding = PaddingScratch(ctx, in, &limit_offset);
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    UploadPadding(work.context(), padding.get(), limit_offset, &in);
    CheckCuda(bt_cuda_scaled_dot_product_attention_grad(work.context(), &a, &g, TF_TensorData(ws.get()), ws_bytes,
                                                        nullptr),
              "attention backward");
    work.Finish();
  });
}

// ---- encoder layer and stack ----

struct GpuEncoderAttrs {
  EncoderOpAttrs op;
  int precision;
};

void* CreateEncoderLayer(TF_OpKernelConstruction* ctx) {
  auto* a = new GpuEncoderAttrs{};
  ReadEncoderLayerAttrs(ctx, &a->op);
  a->precision = PrecisionFromEnv();
  return a;
}

void* CreateEncoderStack(TF_OpKernelConstruction* ctx) {
  auto* a = new GpuEncoderAttrs{};
  ReadEncoderStackAttrs(ctx, &a->op);
  a->precision = PrecisionFromEnv();
  return a;
}

void DeleteEncoder(void* a) { delete static_cast<GpuEncoderAttrs*>(a); }

int CudaActivation(btk_activation activation) {
  return activation == BTK_ACTIVATION_GELU_TANH ? BT_CUDA_GELU_TANH
         : activation == BTK_ACTIVATION_RELU    ? BT_CUDA_RELU
                                                : BT_CUDA_GELU;
}

// One layer's description for libbt_cuda, its weights in device memory; x, y and the key
// padding mask are filled in by the caller (the stack takes them once, for all layers).
bt_cuda_encoder CudaLayer(const EncoderLayerOptions& o, const EncoderLayerInputs& in, const EncoderInput& x,
                          int precision) {
  auto data = [&](int i) { return static_cast<const float*>(TF_TensorData(in.tensors[i].get())); };
  bt_cuda_encoder a{};
  a.batch = x.batch; a.seq = x.seq; a.embed = x.embed; a.ffn = in.ffn; a.num_heads = o.num_heads;
  a.norm_first = o.norm_first; a.is_causal = o.causal; a.activation = CudaActivation(o.activation);
  a.precision = precision;
  a.eps1 = o.eps1; a.eps2 = o.eps2; a.scale = o.scale;
  if (o.packed_qkv) {
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
  return a;
}

// Inputs read and checked as on the CPU (encoder_inputs.h); the key padding mask is host memory.
void ComputeEncoder(void* attrs, TF_OpKernelContext* ctx, const EncoderInputLayout& layout, bool stack) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuEncoderAttrs*>(attrs);
    const EncoderInput input = ReadEncoderInput(ctx, layout, at.op.has_key_padding_mask);
    std::vector<EncoderLayerInputs> inputs(at.op.layers.size());
    std::vector<bt_cuda_encoder> layers;
    for (size_t l = 0; l < inputs.size(); ++l) {
      ReadEncoderLayerInputs(ctx, layout.first_weight + kEncoderWeightInputs * static_cast<int>(l), input.embed,
                             at.op.layers[l], stack ? "layer " + std::to_string(l) + ": " : "", &inputs[l]);
      layers.push_back(CudaLayer(at.op.layers[l], inputs[l], input, at.precision));
    }
    const uint8_t* key_valid = input.key_valid.empty() ? nullptr : input.key_valid.data();
    TensorPtr y = Output(ctx, 0, {input.batch, input.seq, input.embed});
    size_t ws_bytes = 0;
    if (stack) {
      bt_cuda_encoder_stack s{};
      s.batch = input.batch; s.seq = input.seq; s.embed = input.embed;
      s.num_layers = static_cast<int64_t>(layers.size());
      s.layers = layers.data();
      s.x = FloatData(input.x.get());
      s.key_valid_host = key_valid;
      s.y = FloatData(y.get());
      CheckCuda(bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &ws_bytes), "encoder stack");
      TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
      OrderedGpuWork work(TF_GetDeviceId(ctx));
      CheckCuda(bt_cuda_transformer_encoder_stack(work.context(), &s, TF_TensorData(ws.get()), ws_bytes, nullptr),
                "encoder stack");
      work.Finish();
    } else {
      bt_cuda_encoder& a = layers[0];
      a.x = FloatData(input.x.get());
      a.key_valid_host = key_valid;
      a.y = FloatData(y.get());
      CheckCuda(bt_cuda_transformer_encoder_layer_workspace_bytes(&a, &ws_bytes), "encoder layer");
      TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
      OrderedGpuWork work(TF_GetDeviceId(ctx));
      CheckCuda(bt_cuda_transformer_encoder_layer(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr),
                "encoder layer");
      work.Finish();
    }
  });
}

void ComputeEncoderLayer(void* attrs, TF_OpKernelContext* ctx) {
  ComputeEncoder(attrs, ctx, kEncoderLayerInputs, false);
}
void ComputeEncoderStack(void* attrs, TF_OpKernelContext* ctx) {
  ComputeEncoder(attrs, ctx, kEncoderStackInputs, true);
}

void RegisterGpuKernel(const char* op, void* (*create)(TF_OpKernelConstruction*),
                       void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*), TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(op, "GPU", create, compute, destroy);
  TF_KernelBuilder_HostMemory(k, "key_padding_mask");
  TF_RegisterKernelBuilder(op, k, status);
}

}  // namespace

void RegisterScaledDotProductAttentionGpu(TF_Status* status) {
  RegisterGpuKernel(kScaledDotProductAttentionOp, &CreateAttention, &ComputeAttention, &DeleteAttention, status);
}

void RegisterScaledDotProductAttentionGradGpu(TF_Status* status) {
  RegisterGpuKernel(kScaledDotProductAttentionGradOp, &CreateAttention, &ComputeAttentionGrad, &DeleteAttention,
                    status);
}

void RegisterTransformerEncoderLayerGpu(TF_Status* status) {
  RegisterGpuKernel(kTransformerEncoderLayerOp, &CreateEncoderLayer, &ComputeEncoderLayer, &DeleteEncoder, status);
}

void RegisterTransformerEncoderStackGpu(TF_Status* status) {
  RegisterGpuKernel(kTransformerEncoderStackOp, &CreateEncoderStack, &ComputeEncoderStack, &DeleteEncoder, status);
}

}  // namespace bt_tf
