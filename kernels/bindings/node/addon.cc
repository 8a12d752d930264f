// The Node-API addon over the btk C API. Every function takes one options
// object of typed arrays and numbers, validates all of it (ArgReader), then
// runs synchronously on the caller's buffers: outputs are written in place,
// nothing is copied. See kernels/core/README.md for the JavaScript API.
//
// One function per op, named as the op (scaledDotProductAttention,
// scaledDotProductAttentionGrad, transformerEncoderLayer,
// transformerEncoderStack here; the decoding ops in decoder_functions.cc),
// plus the weight-packing and GEMM building blocks.
// The checks every native front end shares come from
// kernels/shared/problem_checks.h; what is checked only here is what only
// JavaScript can get wrong (types, array lengths, memory that overlaps).
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../../include/btk.h"
#include "../../shared/problem_checks.h"
#include "arg_reader.h"
#include "decoder_functions.h"
#include "weight_handle.h"

namespace btk_addon {
namespace {

void throw_on_failure(const ArgReader& args, btk_status status) {
  if (status == BTK_OUT_OF_MEMORY) throw Napi::Error::New(args.env(), "out of memory");
  if (status != BTK_OK) args.range_error("rejected by the native core (an argument check is missing in the addon)");
}

// The shape, scale and masks shared by scaledDotProductAttention and its gradient.
struct AttentionArguments {
  btk_sdpa_problem problem{};
  int64_t q_size, k_size, v_size, out_size, lse_size;
  int64_t mask_length = 0;  // elements of the mask array
  int64_t mask_extent = 0;  // elements its strides reach (<= mask_length)
};

AttentionArguments read_attention_arguments(ArgReader& args) {
  AttentionArguments a;
  btk_sdpa_problem& p = a.problem;
  p.batch = args.dimension("B");
  p.heads = args.dimension("H");
  p.kv_heads = args.dimension_or("Hkv", p.heads);
  p.q_len = args.dimension("Sq");
  p.kv_len = args.dimension("Sk");
  p.head_dim = args.dimension("D");
  p.value_dim = args.dimension_or("Dv", p.head_dim);
  const std::string dims_error = bt_checks::AttentionDimsError(
      {p.batch, p.heads, p.kv_heads, p.q_len, p.kv_len, p.head_dim, p.value_dim}, /*require_heads_and_depth=*/false);
  if (!dims_error.empty()) args.range_error(dims_error);
  const double default_scale = p.head_dim > 0 ? 1.0 / std::sqrt(static_cast<double>(p.head_dim)) : 1.0;
  const double scale = args.number_or("scale", default_scale);
  if (!std::isfinite(scale)) args.range_error("scale must be a finite number");
  p.scale = static_cast<float>(scale);
  p.causal = args.boolean_or("causal", false);

  a.q_size = args.product({p.batch, p.heads, p.q_len, p.head_dim}, "B*H*Sq*D");
  a.k_size = args.product({p.batch, p.kv_heads, p.kv_len, p.head_dim}, "B*Hkv*Sk*D");
  a.v_size = args.product({p.batch, p.kv_heads, p.kv_len, p.value_dim}, "B*Hkv*Sk*Dv");
  a.out_size = args.product({p.batch, p.heads, p.q_len, p.value_dim}, "B*H*Sq*Dv");
  a.lse_size = args.product({p.batch, p.heads, p.q_len}, "B*H*Sq");
  args.product({p.batch, p.heads, p.q_len, p.kv_len}, "B*H*Sq*Sk");  // mask index range must stay exact

  std::string kind = args.string_or("maskKind", "");
  if (!args.has("mask")) {
    if ((!kind.empty() && kind != "none") || args.has("maskStrides"))
      args.type_error("maskKind/maskStrides given without a mask");
    p.mask_kind = BTK_MASK_NONE;
  } else {
    const Napi::Value mask = args.get("mask");
    const bool is_bool = mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_uint8_array;
    const bool is_float = mask.IsTypedArray() && mask.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array;
    if (!is_bool && !is_float) args.type_error("mask must be a Uint8Array (bool) or a Float32Array (float)");
    if (!kind.empty() && kind != "bool" && kind != "float" && kind != "additive")
      args.type_error("maskKind must be 'bool' or 'float' ('additive' is accepted for 'float')");
    if (kind == "additive") kind = "float";
    if ((kind == "bool" && !is_bool) || (kind == "float" && !is_float))
      args.type_error(std::string("maskKind '") + kind + "' needs mask to be a " + (kind == "bool" ? "Uint8Array" : "Float32Array"));
    p.mask_kind = is_bool ? BTK_MASK_BOOL : BTK_MASK_FLOAT;
    a.mask_length = static_cast<int64_t>(mask.As<Napi::TypedArray>().ElementLength());
    if (!args.has("maskStrides") || !args.get("maskStrides").IsArray() ||
        args.get("maskStrides").As<Napi::Array>().Length() != 4)
      args.type_error("maskStrides must be an array of 4 element strides [b, h, i, j] (0 = broadcast)");
    const Napi::Array strides = args.get("maskStrides").As<Napi::Array>();
    for (int d = 0; d < 4; ++d) {
      const Napi::Value stride = strides.Get(static_cast<uint32_t>(d));
      const double value = stride.IsNumber() ? stride.As<Napi::Number>().DoubleValue() : -1.0;
      if (!(value >= 0 && value <= static_cast<double>(kMaxElements)) || value != std::floor(value))
        args.range_error("maskStrides[" + std::to_string(d) + "] must be a non-negative integer");
      p.mask_strides[d] = static_cast<int64_t>(value);
    }
    const int64_t sizes[4] = {p.batch, p.heads, p.q_len, p.kv_len};
    if (!bt_checks::MaskExtent(sizes, p.mask_strides, &a.mask_extent).empty() || a.mask_extent - 1 > kMaxElements)
      args.range_error("maskStrides reach past any possible mask");
    if (a.mask_extent > a.mask_length)
      args.range_error("mask has " + std::to_string(a.mask_length) + " elements but maskStrides reach element " +
                       std::to_string(a.mask_extent - 1));
    p.mask = is_bool ? static_cast<const void*>(args.uint8("mask", a.mask_length, "its length"))
                     : static_cast<const void*>(args.float32("mask", a.mask_length, "its length"));
  }
  p.key_padding = args.uint8("keyPadding", args.product({p.batch, p.kv_len}, "B*Sk"), "B*Sk", true);
  return a;
}

Napi::Value scaled_dot_product_attention(const Napi::CallbackInfo& info) {
  ArgReader args(info, "scaledDotProductAttention");
  AttentionArguments a = read_attention_arguments(args);
  const float* q = args.float32("q", a.q_size, "B*H*Sq*D");
  const float* k = args.float32("k", a.k_size, "B*Hkv*Sk*D");
  const float* v = args.float32("v", a.v_size, "B*Hkv*Sk*Dv");
  float* out = args.float32("out", a.out_size, "B*H*Sq*Dv", false, true);
  float* lse = args.float32("lse", a.lse_size, "B*H*Sq", true, true);
  args.check_arrays_before_use();
  throw_on_failure(args, btk_scaled_dot_product_attention(&a.problem, q, k, v, out, lse));
  return info.Env().Undefined();
}

Napi::Value scaled_dot_product_attention_grad(const Napi::CallbackInfo& info) {
  ArgReader args(info, "scaledDotProductAttentionGrad");
  AttentionArguments a = read_attention_arguments(args);
  const float* q = args.float32("q", a.q_size, "B*H*Sq*D");
  const float* k = args.float32("k", a.k_size, "B*Hkv*Sk*D");
  const float* v = args.float32("v", a.v_size, "B*Hkv*Sk*Dv");
  const float* out = args.float32("out", a.out_size, "B*H*Sq*Dv");
  const float* lse = args.float32("lse", a.lse_size, "B*H*Sq");
  const float* d_out = args.float32("dOut", a.out_size, "B*H*Sq*Dv");
  float* d_q = args.float32("dQ", a.q_size, "B*H*Sq*D", false, true);
  float* d_k = args.float32("dK", a.k_size, "B*Hkv*Sk*D", false, true);
  float* d_v = args.float32("dV", a.v_size, "B*Hkv*Sk*Dv", false, true);
  float* d_mask = nullptr;
  if (args.has("dMask")) {
    if (a.problem.mask_kind != BTK_MASK_FLOAT) args.type_error("dMask needs a float mask");
    d_mask = args.float32("dMask", a.mask_length, "mask.length", false, true);
  }
  args.check_arrays_before_use();
  if (d_mask && a.mask_length > a.mask_extent)  // elements no stride reaches get no gradient
    std::memset(d_mask + a.mask_extent, 0, sizeof(float) * (a.mask_length - a.mask_extent));
  throw_on_failure(args,
                   btk_scaled_dot_product_attention_grad(&a.problem, q, k, v, out, lse, d_out, d_q, d_k, d_v, d_mask));
  return info.Env().Undefined();
}

// packWeight(weight, rows, cols), or packWeight({weight, rows, cols}) (the
// older addon's form, accepted to ease migration).
Napi::Value pack_weight(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  Napi::Value weight_value, rows_value, cols_value;
  if (info.Length() == 1 && info[0].IsObject() && !info[0].IsTypedArray() && !info[0].IsArray()) {
    const Napi::Object options = info[0].As<Napi::Object>();
    weight_value = options.Get("weight");
    rows_value = options.Get("rows");
    cols_value = options.Get("cols");
  } else if (info.Length() == 3) {
    weight_value = info[0];
    rows_value = info[1];
    cols_value = info[2];
  }
  if (weight_value.IsEmpty() || !weight_value.IsTypedArray() ||
      weight_value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "packWeight: expected (weight: Float32Array, rows, cols)");
  auto dimension = [&](const Napi::Value& value, const char* name) -> int64_t {
    if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string("packWeight: ") + name + " must be a number");
    const double number = value.As<Napi::Number>().DoubleValue();
    if (!(number >= 1 && number <= static_cast<double>(kMaxDimension)) || number != std::floor(number))
      throw Napi::RangeError::New(env, std::string("packWeight: ") + name + " must be a positive integer");
    return static_cast<int64_t>(number);
  };
  const int64_t rows = dimension(rows_value, "rows"), cols = dimension(cols_value, "cols");
  Napi::Float32Array weight = weight_value.As<Napi::Float32Array>();
  if (rows > kMaxElements / cols || static_cast<int64_t>(weight.ElementLength()) != rows * cols)
    throw Napi::RangeError::New(env, "packWeight: weight has " + std::to_string(weight.ElementLength()) +
                                         " elements, expected rows*cols = " + std::to_string(rows * cols));
  btk_packed_weight* packed = btk_pack_weight(weight.Data(), rows, cols);
  if (!packed) throw Napi::Error::New(env, "packWeight: out of memory");
  return new_weight_handle(env, packed);
}

Napi::Value release_weight(const Napi::CallbackInfo& info) {
  if (info.Length() != 1) throw Napi::TypeError::New(info.Env(), "releaseWeight: expected (handle)");
  const ArgReader args(info.Env(), "releaseWeight");
  release_weight_handle(args, info[0], "handle");
  return info.Env().Undefined();
}

btk_activation read_activation(const ArgReader& layer) {
  const std::string name = layer.string_or("activation", "gelu");
  if (name == "gelu" || name == "gelu_erf") return BTK_ACTIVATION_GELU_ERF;
  if (name == "gelu_tanh" || name == "gelu_new") return BTK_ACTIVATION_GELU_TANH;
  if (name == "relu") return BTK_ACTIVATION_RELU;
  if (name == "silu") return BTK_ACTIVATION_SILU;
  layer.type_error(layer.qualified("activation") + " must be 'gelu' (erf), 'gelu_tanh', 'relu' or 'silu', got '" + name + "'");
}

float read_eps(const ArgReader& layer, const char* name) {
  const double eps = layer.number_or(name, 1e-5);
  if (!(eps >= 0 && std::isfinite(eps))) layer.range_error(layer.qualified(name) + " must be a finite number >= 0");
  return static_cast<float>(eps);
}

// One layer's weights and options; packed weights it had to make live in `owned`.
btk_encoder_layer_params read_layer(const ArgReader& layer, int64_t e, std::vector<std::unique_ptr<WeightArgument>>& owned) {
  btk_encoder_layer_params params{};
  params.num_heads = layer.dimension("numHeads");
  const std::string heads_error = bt_checks::HeadCountError(e, params.num_heads, layer.qualified("numHeads"));
  if (!heads_error.empty()) layer.range_error(heads_error);
  auto weight = [&](const char* name, int64_t rows, int64_t cols) {
    owned.emplace_back(new WeightArgument(layer, name, rows, cols));
    return owned.back()->get();
  };
  const std::string e_str = std::to_string(e);
  if (layer.has("wqkv")) {
    if (layer.has("wq") || layer.has("wk") || layer.has("wv"))
      layer.type_error("give either " + layer.qualified("wqkv") + " or wq/wk/wv, not both");
    params.w_qkv = weight("wqkv", e, 3 * e);
    params.b_qkv = layer.float32("bqkv", 3 * e, "3*E", true);
  } else {
    params.w_q = weight("wq", e, e);
    params.w_k = weight("wk", e, e);
    params.w_v = weight("wv", e, e);
    params.b_q = layer.float32("bq", e, "E", true);
    params.b_k = layer.float32("bk", e, "E", true);
    params.b_v = layer.float32("bv", e, "E", true);
  }
  params.w_o = weight("wo", e, e);
  params.b_o = layer.float32("bo", e, "E", true);
  params.w_ffn1 = weight("w1", e, -1);
  const int64_t f = btk_packed_weight_cols(params.w_ffn1);
  params.b_ffn1 = layer.float32("b1", f, "F (columns of w1)", true);
  params.w_ffn2 = weight("w2", f, e);
  params.b_ffn2 = layer.float32("b2", e, "E", true);
  // T5 v1.1's gated MLP: w2(act(x.wgate + bgate) * (x.w1 + b1)) + b2, wgate [E, F] like w1.
  params.gated_mlp = layer.boolean_or("gatedMlp", false);
  if (params.gated_mlp) {
    params.w_gate = weight("wgate", e, f);
    params.b_gate = layer.float32("bgate", f, "F (columns of w1)", true);
  } else if (layer.has("wgate") || layer.has("bgate")) {
    layer.type_error(layer.qualified(layer.has("wgate") ? "wgate" : "bgate") + " is given but gatedMlp is false");
  }
  const std::string norm = layer.string_or("normKind", "layer");
  if (norm != "layer" && norm != "rms")
    layer.type_error(layer.qualified("normKind") + " must be 'layer' or 'rms', got '" + norm + "'");
  params.norm_kind = norm == "rms" ? BTK_NORM_RMS : BTK_NORM_LAYER;
  if (params.norm_kind == BTK_NORM_RMS && (layer.has("ln1Beta") || layer.has("ln2Beta")))
    layer.type_error(layer.qualified(layer.has("ln1Beta") ? "ln1Beta" : "ln2Beta") + ": an RMSNorm has no beta");
  params.ln1_gamma = layer.float32("ln1Gamma", e, "E", true);
  params.ln1_beta = layer.float32("ln1Beta", e, "E", true);
  params.ln2_gamma = layer.float32("ln2Gamma", e, "E", true);
  params.ln2_beta = layer.float32("ln2Beta", e, "E", true);
  params.ln1_eps = read_eps(layer, "ln1Eps");
  params.ln2_eps = read_eps(layer, "ln2Eps");
  params.activation = read_activation(layer);
  params.norm_first = layer.boolean_or("normFirst", false);
  params.causal = layer.boolean_or("isCausal", false);
  params.attention_scale = std::nanf("");  // default 1/sqrt(head dim)
  if (layer.has("scale")) {
    const double scale = layer.number_or("scale", 0);
    if (!std::isfinite(scale)) layer.range_error(layer.qualified("scale") + " must be a finite number");
    params.attention_scale = static_cast<float>(scale);
  }
  return params;
}

// transformerEncoderLayer(options) is transformerEncoderStack with the layer fields at the top level.
Napi::Value run_encoder(const Napi::CallbackInfo& info, const char* name, bool stack) {
  ArgReader args(info, name);
  const int64_t batch = args.dimension("B"), seq = args.dimension("S"), e = args.dimension("E");
  const std::string embed_error = bt_checks::EmbedDimError(e);
  if (!embed_error.empty()) args.range_error(embed_error);
  const int64_t size = args.product({batch, seq, e}, "B*S*E");
  std::vector<std::unique_ptr<WeightArgument>> owned;
  std::vector<btk_encoder_layer_params> layers;
  if (stack) {
    if (!args.get("layers").IsArray()) args.type_error("layers must be an array of layer objects");
    const Napi::Array list = args.get("layers").As<Napi::Array>();
    // Read the length once: a Proxy (or a getter of an entry) could grow the array while it is read.
    const uint32_t count = list.Length();
    if (count > kMaxLayers) args.range_error("layers has more than " + std::to_string(kMaxLayers) + " entries");
    for (uint32_t i = 0; i < count; ++i) {
      const Napi::Value entry = list.Get(i);
      const std::string prefix = "layers[" + std::to_string(i) + "].";
      if (!entry.IsObject() || entry.IsArray() || entry.IsTypedArray()) args.type_error(prefix + " must be an object");
      layers.push_back(read_layer(ArgReader(args, entry.As<Napi::Object>(), prefix), e, owned));
    }
  } else {
    layers.push_back(read_layer(args, e, owned));
  }
  const float* x = args.float32("x", size, "B*S*E");
  const uint8_t* key_padding = args.uint8("keyPadding", args.product({batch, seq}, "B*S"), "B*S", true);
  // attentionBias [1 or B, H, S, S] (T5's position bias), added in every layer: its batch (1 or B)
  // follows from its length; H is every layer's numHeads. Without layers it is not read.
  const float* attention_bias = nullptr;
  int64_t bias_batch = 0;
  if (args.has("attentionBias") && !layers.empty()) {
    const int64_t heads = layers[0].num_heads;
    for (size_t l = 1; l < layers.size(); ++l)
      if (layers[l].num_heads != heads)
        args.range_error("attentionBias needs the same numHeads in every layer (layers[0] has " +
                         std::to_string(heads) + ", layers[" + std::to_string(l) + "] " +
                         std::to_string(layers[l].num_heads) + ")");
    const int64_t per_sequence = args.product({heads, seq, seq}, "H*S*S");
    int64_t length = 0;
    attention_bias = args.float32_any("attentionBias", &length);
    const int64_t full = args.product({batch, heads, seq, seq}, "B*H*S*S");
    if (length == per_sequence) bias_batch = 1;
    else if (length == full) bias_batch = batch;
    else
      args.range_error("attentionBias has " + std::to_string(length) + " elements, expected H*S*S = " +
                       std::to_string(per_sequence) + " ([1, H, S, S]) or B*H*S*S = " + std::to_string(full));
    if (bias_batch == 0) attention_bias = nullptr;  // B = 0 or S = 0: nothing to read
  } else if (args.has("attentionBias")) {
    int64_t length = 0;
    args.float32_any("attentionBias", &length);  // type-checked, unused
  }
  float* out = args.float32("out", size, "B*S*E", false, true);
  args.check_arrays_before_use();
  for (const auto& weight : owned) weight->check_still_valid(args);
  throw_on_failure(args, btk_transformer_encoder_stack(layers.data(), static_cast<int64_t>(layers.size()), x, batch,
                                                       seq, e, key_padding, attention_bias, bias_batch, out));
  return info.Env().Undefined();
}

// linear({x, M, K, w, bias?, activation = 'none', residual?, out}):
// out[M, N] = act(x[M, K] . w[K, N] + bias) + residual, N from w.
Napi::Value linear(const Napi::CallbackInfo& info) {
  ArgReader args(info, "linear");
  const int64_t m = args.dimension("M"), k = args.dimension("K");
  if (k == 0) args.range_error("K must be positive");
  WeightArgument weight(args, "w", k, -1);
  const int64_t n = weight.cols();
  const std::string activation_name = args.string_or("activation", "none");
  btk_activation activation = BTK_ACTIVATION_NONE;
  if (activation_name == "relu") activation = BTK_ACTIVATION_RELU;
  else if (activation_name == "silu") activation = BTK_ACTIVATION_SILU;
  else if (activation_name == "gelu" || activation_name == "gelu_erf") activation = BTK_ACTIVATION_GELU_ERF;
  else if (activation_name == "gelu_tanh" || activation_name == "gelu_new") activation = BTK_ACTIVATION_GELU_TANH;
  else if (activation_name != "none")
    args.type_error("activation must be 'none', 'relu', 'gelu' (erf), 'gelu_tanh' or 'silu', got '" + activation_name + "'");
  const std::string n_formula = "M*N (N = " + std::to_string(n) + " columns of w)";
  const float* x = args.float32("x", args.product({m, k}, "M*K"), "M*K");
  const float* bias = args.float32("bias", n, "N (columns of w)", true);
  const float* residual = args.float32("residual", args.product({m, n}, "M*N"), n_formula, true);
  float* out = args.float32("out", args.product({m, n}, "M*N"), n_formula, false, true);
  args.check_arrays_before_use();
  weight.check_still_valid(args);
  throw_on_failure(args, btk_gemm(m, x, k, weight.get(), out, n, bias, activation, residual, n));
  return info.Env().Undefined();
}

Napi::Value transformer_encoder_layer(const Napi::CallbackInfo& info) {
  return run_encoder(info, "transformerEncoderLayer", false);
}
Napi::Value transformer_encoder_stack(const Napi::CallbackInfo& info) {
  return run_encoder(info, "transformerEncoderStack", true);
}

Napi::Value library_info(const Napi::CallbackInfo& info) {
  Napi::Object result = Napi::Object::New(info.Env());
  result.Set("isa", btk_isa_name());
  result.Set("threads", btk_num_threads());
  result.Set("version", btk_version());
  return result;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  exports.Set("scaledDotProductAttention",
              Napi::Function::New(env, scaled_dot_product_attention, "scaledDotProductAttention"));
  exports.Set("scaledDotProductAttentionGrad",
              Napi::Function::New(env, scaled_dot_product_attention_grad, "scaledDotProductAttentionGrad"));
  exports.Set("packWeight", Napi::Function::New(env, pack_weight, "packWeight"));
  exports.Set("releaseWeight", Napi::Function::New(env, release_weight, "releaseWeight"));
  exports.Set("linear", Napi::Function::New(env, linear, "linear"));
  exports.Set("transformerEncoderLayer",
              Napi::Function::New(env, transformer_encoder_layer, "transformerEncoderLayer"));
  exports.Set("transformerEncoderStack",
              Napi::Function::New(env, transformer_encoder_stack, "transformerEncoderStack"));
  exports.Set("info", Napi::Function::New(env, library_info, "info"));
  register_decoder_functions(env, exports);
  return exports;
}

}  // namespace
}  // namespace btk_addon

// NODE_API_MODULE needs an unqualified name.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return btk_addon::init(env, exports); }
NODE_API_MODULE(tfjs_bt_kernels, InitModule)
