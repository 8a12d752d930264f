// Node-API binding of the native core for tfjs's `cpu` backend. The caller
// (src/backends/cpu/native_*.ts) passes the backend's own typed arrays and a
// preallocated output, so nothing is copied; everything is validated first.
#include <napi.h>

#include <vector>

#include "args.h"
#include "attention.h"
#include "encoder_layer.h"
#include "gemm.h"
#include "parallel.h"

namespace bt_addon {
namespace {

// Marks Externals made by packWeight(), so a foreign External is never read as one.
constexpr napi_type_tag kPackedWeightTag = {0x74666a7362747077ULL, 0x7061636b65640001ULL};

struct AttentionInputs {
  bt::AttentionArgs a{};
  int64_t mask_elements = 0;
};

AttentionInputs ReadAttention(const Args& args) {
  AttentionInputs in;
  bt::AttentionArgs& a = in.a;
  a.batch = args.Dim("batch");
  a.heads = args.Dim("heads", 1);
  a.kv_heads = args.Dim("kvHeads", 1);
  a.q_seq = args.Dim("querySeq");
  a.k_seq = args.Dim("keySeq");
  a.depth = args.Dim("depth", 1);
  a.value_depth = args.Dim("valueDepth");
  if (a.heads % a.kv_heads != 0) args.Fail("heads must be a multiple of kvHeads");
  a.scale = args.Float("scale");
  a.causal = args.Bool("causal");
  a.q = args.Floats("q", args.Product({a.batch, a.heads, a.q_seq, a.depth}));
  a.k = args.Floats("k", args.Product({a.batch, a.kv_heads, a.k_seq, a.depth}));
  a.v = args.Floats("v", args.Product({a.batch, a.kv_heads, a.k_seq, a.value_depth}));
  const std::string kind = args.String("maskKind");
  a.mask_kind = kind == "bool" ? bt::MaskKind::kBool : kind == "additive" ? bt::MaskKind::kAdditive : bt::MaskKind::kNone;
  if (kind != "none" && kind != "bool" && kind != "additive") args.Fail("maskKind must be none, bool or additive");
  if (a.mask_kind != bt::MaskKind::kNone) {
    // maskStrides: element strides over [B, H, Sq, Sk] (0 = broadcast); maskElements: the mask's size.
    in.mask_elements = args.Dim("maskElements");
    const int64_t target[4] = {a.batch, a.heads, a.q_seq, a.k_seq};
    int64_t reach = 0;
    for (int d = 0; d < 4; ++d) {
      a.mask_strides[d] = args.Dim(d == 0 ? "maskStrideB" : d == 1 ? "maskStrideH" : d == 2 ? "maskStrideQ" : "maskStrideK");
      if (target[d] > 0) reach += a.mask_strides[d] * (target[d] - 1);
    }
    // Every index the kernel can form must lie inside the mask.
    if (target[0] * target[1] * target[2] * target[3] > 0 && reach >= in.mask_elements) {
      args.Fail("mask strides reach past the end of the mask");
    }
    a.mask = a.mask_kind == bt::MaskKind::kBool ? static_cast<const void*>(args.Bytes("mask", in.mask_elements)) :
                                                  static_cast<const void*>(args.Floats("mask", in.mask_elements));
  }
  a.key_valid = args.Has("keyValid") ? args.Bytes("keyValid", args.Product({a.batch, a.k_seq})) : nullptr;
  return in;
}

void AttentionForward(const Napi::CallbackInfo& info) {
  const Args args(info, "attentionForward");
  AttentionInputs in = ReadAttention(args);
  const bt::AttentionArgs& a = in.a;
  float* out = args.Floats("out", args.Product({a.batch, a.heads, a.q_seq, a.value_depth}));
  float* lse = args.Floats("lse", args.Product({a.batch, a.heads, a.q_seq}));
  bt::AttentionForward(a, out, lse);
}

void AttentionBackward(const Napi::CallbackInfo& info) {
  const Args args(info, "attentionBackward");
  AttentionInputs in = ReadAttention(args);
  const bt::AttentionArgs& a = in.a;
  const int64_t out_size = args.Product({a.batch, a.heads, a.q_seq, a.value_depth});
  bt::AttentionGradOutputs g{};
  g.dq = args.Floats("dq", args.Product({a.batch, a.heads, a.q_seq, a.depth}));
  g.dk = args.Floats("dk", args.Product({a.batch, a.kv_heads, a.k_seq, a.depth}));
  g.dv = args.Floats("dv", args.Product({a.batch, a.kv_heads, a.k_seq, a.value_depth}));
  if (a.mask_kind == bt::MaskKind::kAdditive) {
    g.dmask = args.Floats("dMask", in.mask_elements);
    g.dmask_size = in.mask_elements;
  }
  bt::AttentionBackward(a, args.Floats("dOut", out_size), args.Floats("outputs", out_size),
                        args.Floats("lse", args.Product({a.batch, a.heads, a.q_seq})), g);
}

void EncoderLayer(const Napi::CallbackInfo& info) {
  const Args args(info, "encoderLayer");
  bt::EncoderLayerArgs a{};
  a.batch = args.Dim("batch");
  a.seq = args.Dim("seq");
  a.embed = args.Dim("embed", 1);
  a.ffn = args.Dim("ffn", 1);
  a.num_heads = args.Dim("numHeads", 1);
  if (a.embed % a.num_heads != 0) args.Fail("embed must be a multiple of numHeads");
  a.norm_first = args.Bool("normFirst");
  a.causal = args.Bool("causal");
  const std::string act = args.String("activation");
  if (act != "gelu" && act != "gelu_tanh" && act != "relu") args.Fail("activation must be gelu, gelu_tanh or relu");
  a.activation = act == "gelu" ? bt::Activation::kGelu : act == "gelu_tanh" ? bt::Activation::kGeluTanh :
                                                                             bt::Activation::kRelu;
  a.eps1 = args.Float("eps1");
  a.eps2 = args.Float("eps2");
  a.scale = args.Float("scale");
  const int64_t e = a.embed, f = a.ffn;
  a.x = args.Floats("x", args.Product({a.batch, a.seq, e}));
  if (args.Bool("packedQkv")) {
    a.qkv_weight = args.Floats("qkvWeight", args.Product({e, 3, e}));
    a.qkv_bias = args.Floats("qkvBias", 3 * e);
  } else {
    a.q_weight = args.Floats("qWeight", e * e);
    a.k_weight = args.Floats("kWeight", e * e);
    a.v_weight = args.Floats("vWeight", e * e);
    a.q_bias = args.Floats("qBias", e);
    a.k_bias = args.Floats("kBias", e);
    a.v_bias = args.Floats("vBias", e);
  }
  a.out_weight = args.Floats("outWeight", e * e);
  a.out_bias = args.Floats("outBias", e);
  a.ln1_gamma = args.Floats("ln1Gamma", e);
  a.ln1_beta = args.Floats("ln1Beta", e);
  a.ln2_gamma = args.Floats("ln2Gamma", e);
  a.ln2_beta = args.Floats("ln2Beta", e);
  a.ffn_in_weight = args.Floats("ffnInWeight", args.Product({e, f}));
  a.ffn_in_bias = args.Floats("ffnInBias", f);
  a.ffn_out_weight = args.Floats("ffnOutWeight", args.Product({f, e}));
  a.ffn_out_bias = args.Floats("ffnOutBias", e);
  a.key_valid = args.Has("keyValid") ? args.Bytes("keyValid", args.Product({a.batch, a.seq})) : nullptr;
  const auto& tag = kPackedWeightTag;
  a.packed_qkv = args.OptionalExternal<bt::PackedWeight>("packedQkvWeight", tag, e, 3 * e);
  a.packed_q = args.OptionalExternal<bt::PackedWeight>("packedQWeight", tag, e, e);
  a.packed_k = args.OptionalExternal<bt::PackedWeight>("packedKWeight", tag, e, e);
  a.packed_v = args.OptionalExternal<bt::PackedWeight>("packedVWeight", tag, e, e);
  a.packed_out = args.OptionalExternal<bt::PackedWeight>("packedOutWeight", tag, e, e);
  a.packed_ffn_in = args.OptionalExternal<bt::PackedWeight>("packedFfnInWeight", tag, e, f);
  a.packed_ffn_out = args.OptionalExternal<bt::PackedWeight>("packedFfnOutWeight", tag, f, e);
  float* y = args.Floats("y", args.Product({a.batch, a.seq, e}));
  bt::EncoderLayer(a, y);
}

// packWeight({weight: Float32Array, rows, cols}) -> handle. The packed copy is
// freed when the handle is garbage-collected (the caller caches handles per
// tensor, so a disposed tensor's pack goes with it).
Napi::Value PackWeight(const Napi::CallbackInfo& info) {
  const Args args(info, "packWeight");
  const int64_t rows = args.Dim("rows", 1), cols = args.Dim("cols", 1);
  const float* weight = args.Floats("weight", args.Product({rows, cols}));
  auto* packed = new bt::PackedWeight(rows, cols, weight, cols);
  auto handle = Napi::External<bt::PackedWeight>::New(info.Env(), packed,
                                                      [](Napi::Env, bt::PackedWeight* p) { delete p; });
  handle.TypeTag(&kPackedWeightTag);
  return handle;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("isa", bt::GemmIsa());
  result.Set("threads", static_cast<double>(bt::NumThreads()));
  return result;
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("attentionForward", Napi::Function::New(env, AttentionForward));
  exports.Set("attentionBackward", Napi::Function::New(env, AttentionBackward));
  exports.Set("encoderLayer", Napi::Function::New(env, EncoderLayer));
  exports.Set("packWeight", Napi::Function::New(env, PackWeight));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace bt_addon

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return bt_addon::Init(env, exports); }

NODE_API_MODULE(tfjs_bt_core, InitAddon)
