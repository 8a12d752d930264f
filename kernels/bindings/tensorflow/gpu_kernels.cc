// DEVICE_GPU kernels of the ops (tfjs-node-gpu), on libbt_cuda
// (kernels/cuda, C ABI kernels/include/bt_cuda.h): each op calls the
// bt_cuda function of its name. Built only with BT_WITH_CUDA
// (tools/build-tensorflow-ops.sh --gpu). Op definitions, inputs, attributes and
// outputs are those of attention_ops.cc, encoder_ops.cc and decoder_ops.cc, and
// the inputs are read and checked by the same code as on the CPU
// (attention_inputs.h, encoder_inputs.h, decoder_inputs.h). In host memory:
// the key padding mask (its per-sequence layout is turned into tables on the
// host), and the decoding ops' positions, token ids and cache lengths (checked
// on the host before anything is written) and their `lengths` output; every
// other tensor stays on the device. The key/value caches are updated in place
// and returned, as on the CPU. The ops with matrix products (the attention ops,
// the encoder layer and stack, the cache attention and the decoder stack) take
// their arithmetic from their `precision` attribute, set by the tfjs kernels at
// each call (the op's option, else getGpuPrecision()): 'highest' (FP32 FMA),
// 'high' (TF32 tensor cores, FP32 accumulation; the op definitions' default) or
// 'medium' (bfloat16 tensor cores, FP32 accumulation and softmax statistics);
// anything else fails the kernel's construction. Inputs and outputs are float32
// at every precision. RMSNorm and the rotary embedding are float32 elementwise
// kernels. BtTransformerDecoderStack computes in float32 on the GPU whatever its
// weight_precision (bfloat16 copies are a CPU kernel feature).
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "attention_inputs.h"
#include "bt_cuda.h"
#include "decoder_inputs.h"
#include "encoder_inputs.h"
#include "gpu_stream_order.h"
#include "ops_registry.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

// The op's `precision` attribute as a bt_cuda_precision; anything but 'highest', 'high' or 'medium'
// fails the construction (reported once: not when reading an earlier attribute already failed it).
int ReadPrecision(TF_OpKernelConstruction* ctx, AttrReader& r) {
  const std::string p = r.String("precision");
  if (!r.ok) return BT_CUDA_PRECISION_HIGH;
  if (p == "highest") return BT_CUDA_PRECISION_HIGHEST;
  if (p == "high") return BT_CUDA_PRECISION_HIGH;
  if (p == "medium") return BT_CUDA_PRECISION_MEDIUM;
  r.ok = false;
  FailConstruction(ctx, ("precision must be 'highest', 'high' or 'medium', got '" + p + "'").c_str());
  return BT_CUDA_PRECISION_HIGH;
}

// The same for the ops whose other attributes are read by shared code (`ok`: whether they were).
int ReadPrecision(TF_OpKernelConstruction* ctx, bool ok) {
  if (!ok) return BT_CUDA_PRECISION_HIGH;
  AttrReader r{ctx};
  return ReadPrecision(ctx, r);
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
  if (r.ok && kind != "none" && kind != "bool" && kind != "additive") {
    r.ok = false;
    FailConstruction(ctx, "mask_kind must be none, bool or additive");
  }
  a->precision = ReadPrecision(ctx, r);
  return a;
}

void DeleteAttention(void* a) { delete static_cast<GpuAttentionAttrs*>(a); }

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
    // Empty except at precision MEDIUM (bfloat16 copies of q, k and v); taken before the device wait.
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_scaled_dot_product_attention_workspace_bytes(&a, &ws_bytes), "attention forward");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    int64_t limit_offset = 0;
    TensorPtr padding = PaddingScratch(ctx, in, &limit_offset);
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    UploadPadding(work.context(), padding.get(), limit_offset, &in);
    CheckCuda(bt_cuda_scaled_dot_product_attention(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr),
              "attention forward");
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
  a->precision = ReadPrecision(ctx, ReadEncoderLayerAttrs(ctx, &a->op));
  return a;
}

void* CreateEncoderStack(TF_OpKernelConstruction* ctx) {
  auto* a = new GpuEncoderAttrs{};
  a->precision = ReadPrecision(ctx, ReadEncoderStackAttrs(ctx, &a->op));
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

// The T5-class forms are not in the CUDA encoder yet: refused by name rather than computed
// without them (they run on the CPU kernel or the composite).
void RefuseOutsideCudaEncoder(const EncoderOpAttrs& op, const EncoderLayerOptions& o, const EncoderLayerInputs& in,
                              const std::string& label) {
  std::string missing;
  if (o.norm_kind == BTK_NORM_RMS) missing = "norm_kind rms";
  else if (o.gated_mlp) missing = "gated_mlp";
  else if (op.has_attention_bias) missing = "attention_bias";
  else if (o.activation == BTK_ACTIVATION_SILU) missing = "activation silu";
  for (int i = 0; missing.empty() && i < kEncoderWeightInputs; ++i) {
    const bool unused_qkv = o.packed_qkv ? (i >= kQWeight && i <= kVBias) : (i == kQkvWeight || i == kQkvBias);
    if (i != kGateWeight && i != kGateBias && !unused_qkv && !in.Present(i))
      missing = std::string("an absent ") + EncoderWeightInputNames()[i];
  }
  if (!missing.empty())
    throw InvalidArgument{label + "the GPU encoder kernel does not support " + missing +
                          " yet (T5-class encoders run on the CPU kernel)"};
}

// Inputs read and checked as on the CPU (encoder_inputs.h); the key padding mask is host memory.
void ComputeEncoder(void* attrs, TF_OpKernelContext* ctx, const EncoderInputLayout& layout, bool stack) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuEncoderAttrs*>(attrs);
    const EncoderInput input = ReadEncoderInput(ctx, layout, at.op);
    std::vector<EncoderLayerInputs> inputs(at.op.layers.size());
    std::vector<bt_cuda_encoder> layers;
    for (size_t l = 0; l < inputs.size(); ++l) {
      const std::string label = stack ? "layer " + std::to_string(l) + ": " : "";
      ReadEncoderLayerInputs(ctx, layout.first_weight + kEncoderWeightInputs * static_cast<int>(l), input.embed,
                             at.op.layers[l], label, &inputs[l]);
      RefuseOutsideCudaEncoder(at.op, at.op.layers[l], inputs[l], label);
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

// ---- decoding ops ----

struct GpuScalarAttrs {
  float value;    // epsilon (BtRmsNorm) or scale (BtAttentionWithKVCache)
  int precision;  // BtAttentionWithKVCache's; RMSNorm is a float32 row kernel
};

void* CreateGpuRmsNorm(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new GpuScalarAttrs{r.Float("epsilon"), BT_CUDA_PRECISION_HIGHEST};
  if (r.ok && !(std::isfinite(a->value) && a->value >= 0)) FailConstruction(ctx, "epsilon must be finite and non-negative");
  return a;
}

void* CreateGpuKvCache(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new GpuScalarAttrs{r.Float("scale"), BT_CUDA_PRECISION_HIGH};
  if (r.ok && !std::isfinite(a->value)) {
    r.ok = false;
    FailConstruction(ctx, "scale must be finite");
  }
  a->precision = ReadPrecision(ctx, r);
  return a;
}

void DeleteGpuScalar(void* a) { delete static_cast<GpuScalarAttrs*>(a); }

void ComputeGpuRmsNorm(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    RmsNormInputs in;
    ReadRmsNormInputs(ctx, &in);
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.rows * in.width == 0) return;
    bt_cuda_rms_norm_args a{};
    a.rows = in.rows;
    a.width = in.width;
    a.eps = static_cast<GpuScalarAttrs*>(attrs)->value;
    a.x = FloatData(in.x.get());
    a.gamma = FloatData(in.gamma.get());
    a.y = FloatData(y.get());
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_rms_norm(work.context(), &a, nullptr), "rms norm");
    work.Finish();
  });
}

struct GpuRotaryAttrs {
  int32_t rotary_dim;
  bool interleaved;
};

void* CreateGpuRotary(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new GpuRotaryAttrs{r.Int("rotary_dim"), r.Bool("interleaved")};
  if (r.ok && (a->rotary_dim < 0 || a->rotary_dim % 2 != 0)) FailConstruction(ctx, "rotary_dim must be even and non-negative");
  return a;
}

void DeleteGpuRotary(void* a) { delete static_cast<GpuRotaryAttrs*>(a); }

void ComputeGpuRotary(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuRotaryAttrs*>(attrs);
    RotaryInputs in;
    ReadRotaryInputs(ctx, at.rotary_dim, &in);  // positions: host memory
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.batch * in.heads * in.seq * in.head_dim == 0) return;
    bt_cuda_rotary_args a{};
    a.batch = in.batch; a.heads = in.heads; a.seq = in.seq; a.head_dim = in.head_dim;
    a.rotary_dim = at.rotary_dim; a.interleaved = at.interleaved ? 1 : 0;
    a.x = FloatData(in.x.get());
    a.y = FloatData(y.get());
    if (at.rotary_dim > 0) {
      a.table_rows = in.table_rows;
      a.cos = FloatData(in.cos.get());
      a.sin = FloatData(in.sin.get());
      a.positions_host = in.position_values.data();
    }
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_rotary_embedding_workspace_bytes(&a, &ws_bytes), "rotary embedding");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_rotary_embedding(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr),
              "rotary embedding");
    work.Finish();
  });
}

void ComputeGpuKvCache(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuScalarAttrs*>(attrs);
    KvCacheInputs in;
    ReadKvCacheInputs(ctx, &in);  // lengths: host memory
    TensorPtr out = Output(ctx, 0, {in.batch, in.heads, in.new_len, in.value_dim});
    TensorPtr lengths = OutputOf(ctx, 3, {in.batch}, TF_INT32);  // host memory
    bt_cuda_kv_cache a{};
    a.batch = in.batch; a.heads = in.heads; a.kv_heads = in.kv_heads; a.new_len = in.new_len;
    a.capacity = in.capacity; a.head_dim = in.head_dim; a.value_dim = in.value_dim;
    a.scale = at.value;
    a.precision = at.precision;
    a.q = FloatData(in.q.get()); a.k = FloatData(in.k.get()); a.v = FloatData(in.v.get());
    a.key_cache = FloatData(in.key_cache.get());
    a.value_cache = FloatData(in.value_cache.get());
    a.past_lengths_host = in.past.data();
    a.new_lengths_host = in.fresh.data();
    a.out = FloatData(out.get());
    a.lengths_host = static_cast<int32_t*>(TF_TensorData(lengths.get()));
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_attention_with_kv_cache_workspace_bytes(&a, &ws_bytes), "attention with kv cache");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_attention_with_kv_cache(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr),
              "attention with kv cache");
    work.Finish();
    ForwardAsOutput(ctx, 1, in.key_cache.get());
    ForwardAsOutput(ctx, 2, in.value_cache.get());
  });
}

struct GpuDecoderAttrs {
  DecoderOpAttrs op;
  int precision;
};

void* CreateGpuDecoder(TF_OpKernelConstruction* ctx) {
  auto* a = new GpuDecoderAttrs{};
  a->precision = ReadPrecision(ctx, ReadDecoderStackAttrs(ctx, &a->op));
  return a;
}

void DeleteGpuDecoder(void* a) { delete static_cast<GpuDecoderAttrs*>(a); }

int CudaDecoderActivation(btk_activation activation) {
  switch (activation) {
    case BTK_ACTIVATION_GELU_TANH: return BT_CUDA_GELU_TANH;
    case BTK_ACTIVATION_RELU: return BT_CUDA_RELU;
    case BTK_ACTIVATION_SILU: return BT_CUDA_SILU;
    default: return BT_CUDA_GELU;
  }
}

void ComputeGpuDecoder(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<GpuDecoderAttrs*>(attrs);
    const DecoderOpAttrs& a = at.op;
    DecoderStackInputs in;
    ReadDecoderStackInputs(ctx, a, &in);  // ids, lengths and the source mask: host memory
    const auto data = [](const TensorPtr& t) -> const float* {
      return IsPlaceholder(t.get()) ? nullptr : FloatData(t.get());
    };
    const bool rms = a.norm_kind == BTK_NORM_RMS;
    auto& g = in.globals;
    std::vector<bt_cuda_decoder_layer> layers(static_cast<size_t>(a.num_layers));
    for (int32_t l = 0; l < a.num_layers; ++l) {
      const auto& t = in.layers[static_cast<size_t>(l)];
      bt_cuda_decoder_layer& L = layers[static_cast<size_t>(l)];
      L.norm1_gamma = data(t[decoder_layer::kNorm1Gamma]);
      L.norm1_beta = rms ? nullptr : data(t[decoder_layer::kNorm1Beta]);
      L.norm2_gamma = data(t[decoder_layer::kNorm2Gamma]);
      L.norm2_beta = rms ? nullptr : data(t[decoder_layer::kNorm2Beta]);
      L.norm1_eps = a.eps1[static_cast<size_t>(l)];
      L.norm2_eps = a.eps2[static_cast<size_t>(l)];
      if (a.packed_qkv) {
        L.qkv_weight = data(t[decoder_layer::kQkvWeight]); L.qkv_bias = data(t[decoder_layer::kQkvBias]);
      } else {
        L.q_weight = data(t[decoder_layer::kQWeight]); L.q_bias = data(t[decoder_layer::kQBias]);
        L.k_weight = data(t[decoder_layer::kKWeight]); L.k_bias = data(t[decoder_layer::kKBias]);
        L.v_weight = data(t[decoder_layer::kVWeight]); L.v_bias = data(t[decoder_layer::kVBias]);
      }
      L.out_weight = data(t[decoder_layer::kOutWeight]); L.out_bias = data(t[decoder_layer::kOutBias]);
      if (a.gated_mlp) {
        L.gate_weight = data(t[decoder_layer::kGateWeight]); L.gate_bias = data(t[decoder_layer::kGateBias]);
      }
      L.up_weight = data(t[decoder_layer::kUpWeight]); L.up_bias = data(t[decoder_layer::kUpBias]);
      L.down_weight = data(t[decoder_layer::kDownWeight]); L.down_bias = data(t[decoder_layer::kDownBias]);
      if (a.cross_attention) {
        L.cross_norm_gamma = data(t[decoder_layer::kCrossNormGamma]);
        L.cross_norm_beta = rms ? nullptr : data(t[decoder_layer::kCrossNormBeta]);
        L.cross_norm_eps = a.eps_cross[static_cast<size_t>(l)];
        L.cross_q_weight = data(t[decoder_layer::kCrossQWeight]); L.cross_q_bias = data(t[decoder_layer::kCrossQBias]);
        L.cross_k_weight = data(t[decoder_layer::kCrossKWeight]); L.cross_k_bias = data(t[decoder_layer::kCrossKBias]);
        L.cross_v_weight = data(t[decoder_layer::kCrossVWeight]); L.cross_v_bias = data(t[decoder_layer::kCrossVBias]);
        L.cross_out_weight = data(t[decoder_layer::kCrossOutWeight]);
        L.cross_out_bias = data(t[decoder_layer::kCrossOutBias]);
      }
    }
    bt_cuda_decoder m{};
    m.num_layers = a.num_layers; m.vocab_size = in.vocab; m.embed_dim = in.embed;
    m.num_heads = a.num_heads; m.num_kv_heads = a.num_kv_heads; m.head_dim = a.head_dim; m.ffn_dim = in.ffn;
    m.norm_kind = rms ? BT_CUDA_NORM_RMS : BT_CUDA_NORM_LAYER;
    m.norm_first = a.norm_first; m.parallel = a.parallel; m.parallel_shared_norm = a.parallel_shared_norm;
    m.activation = CudaDecoderActivation(a.activation);
    m.gated_mlp = a.gated_mlp;
    m.precision = at.precision;
    m.has_final_norm = a.has_final_norm;
    m.lm_head_transposed = a.lm_head_transposed;
    m.rotary_interleaved = a.rotary_interleaved;
    m.attention_scale = a.scale; m.embedding_scale = a.embedding_scale; m.final_norm_eps = a.final_norm_eps;
    m.word_embeddings = data(g[kWordEmbeddings]);
    if (in.position_rows > 0) {
      m.position_embeddings = data(g[kPositionEmbeddings]);
      m.position_rows = in.position_rows;
      m.position_offset = a.position_offset;
    }
    if (a.rotary_dim > 0) {
      m.rotary_cos = data(g[kRotaryCos]); m.rotary_sin = data(g[kRotarySin]);
      m.rotary_dim = a.rotary_dim; m.rotary_rows = in.rotary_rows;
    }
    m.final_norm_gamma = data(g[kFinalNormGamma]);
    m.final_norm_beta = rms ? nullptr : data(g[kFinalNormBeta]);
    m.lm_head = data(g[kLmHead]); m.lm_head_bias = data(g[kLmHeadBias]);
    m.layers = layers.empty() ? nullptr : layers.data();
    m.cross_attention = a.cross_attention ? 1 : 0;
    if (a.has_embedding_norm) {
      m.has_embedding_norm = 1;
      m.embedding_norm_gamma = data(g[kEmbeddingNormGamma]);
      m.embedding_norm_beta = rms ? nullptr : data(g[kEmbeddingNormBeta]);
      m.embedding_norm_eps = a.embedding_norm_eps;
      m.embedding_norm_before_positions = a.embedding_norm_before_positions ? 1 : 0;
    }
    if (in.position_bias_rows > 0) {
      m.position_bias = data(g[kPositionBias]);
      m.position_bias_rows = in.position_bias_rows;
    }

    const std::vector<int64_t> logits_shape =
        a.logits_all ? std::vector<int64_t>{in.batch, in.new_len, in.vocab} : std::vector<int64_t>{in.batch, in.vocab};
    TensorPtr logits = Output(ctx, 0, logits_shape);
    TensorPtr lengths = OutputOf(ctx, 3, {in.batch}, TF_INT32);  // host memory
    bt_cuda_decoder_step s{};
    s.batch = in.batch; s.new_len = in.new_len; s.capacity = in.capacity;
    s.logits_rows = a.logits_all ? BT_CUDA_LOGITS_ALL : BT_CUDA_LOGITS_LAST;
    s.input_ids_host = in.input_ids.empty() ? nullptr : in.input_ids.data();
    s.past_lengths_host = in.past.data();
    s.new_lengths_host = in.fresh.data();
    s.key_cache = FloatData(in.key_cache.get());
    s.value_cache = FloatData(in.value_cache.get());
    s.logits = FloatData(logits.get());
    s.lengths_host = static_cast<int32_t*>(TF_TensorData(lengths.get()));
    if (a.cross_attention) {
      // The cross caches are filled in place from encoder_states (fill_cross_cache) and passed through below.
      s.source_len = in.source_len;
      s.cross_key_cache = FloatData(in.cross_key_cache.get());
      s.cross_value_cache = FloatData(in.cross_value_cache.get());
      if (a.fill_cross_cache) s.encoder_states = data(g[kEncoderStates]);
      if (a.has_source_mask) s.source_mask_host = in.source_mask.data();  // host copy, checked when read
    }
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &ws_bytes), "transformer decoder stack");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_transformer_decoder_stack(work.context(), &m, &s, TF_TensorData(ws.get()), ws_bytes, nullptr),
              "transformer decoder stack");
    work.Finish();
    ForwardAsOutput(ctx, 1, in.key_cache.get());
    ForwardAsOutput(ctx, 2, in.value_cache.get());
    ForwardAsOutput(ctx, 4, in.cross_key_cache.get());  // updated in place (placeholders without cross-attention)
    ForwardAsOutput(ctx, 5, in.cross_value_cache.get());
  });
}

// `host_memory`: the op's arguments (inputs or outputs) the kernel reads or writes on the host.
void RegisterGpuKernel(const char* op, void* (*create)(TF_OpKernelConstruction*),
                       void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*), TF_Status* status,
                       std::initializer_list<const char*> host_memory = {"key_padding_mask"}) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(op, "GPU", create, compute, destroy);
  for (const char* arg : host_memory) TF_KernelBuilder_HostMemory(k, arg);
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

void RegisterRmsNormGpu(TF_Status* status) {
  RegisterGpuKernel(kRmsNormOp, &CreateGpuRmsNorm, &ComputeGpuRmsNorm, &DeleteGpuScalar, status, {});
}

void RegisterRotaryEmbeddingGpu(TF_Status* status) {
  RegisterGpuKernel(kRotaryEmbeddingOp, &CreateGpuRotary, &ComputeGpuRotary, &DeleteGpuRotary, status,
                    {"positions"});
}

void RegisterAttentionWithKVCacheGpu(TF_Status* status) {
  RegisterGpuKernel(kAttentionWithKVCacheOp, &CreateGpuKvCache, &ComputeGpuKvCache, &DeleteGpuScalar, status,
                    {"past_lengths", "new_lengths", "lengths"});
}

void RegisterTransformerDecoderStackGpu(TF_Status* status) {
  RegisterGpuKernel(kTransformerDecoderStackOp, &CreateGpuDecoder, &ComputeGpuDecoder, &DeleteGpuDecoder, status,
                    {"input_ids", "past_lengths", "new_lengths", "lengths", "source_mask"});
}

}  // namespace bt_tf
