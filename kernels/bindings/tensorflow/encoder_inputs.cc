#include "encoder_inputs.h"

#include "../../shared/problem_checks.h"

namespace bt_tf {
namespace {

const char* const kWeightNames[kEncoderWeightInputs] = {
  "qkv_weight", "qkv_bias", "q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias", "out_weight",
  "out_bias", "ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "ffn_in_weight", "ffn_in_bias", "ffn_out_weight",
  "ffn_out_bias", "gate_weight", "gate_bias",
};

// norm_kind, gated_mlp and has_attention_bias: the T5-class attributes both ops share.
bool ReadT5Attrs(TF_OpKernelConstruction* ctx, AttrReader& r, EncoderLayerOptions* layer, EncoderOpAttrs* attrs) {
  const std::string norm = r.String("norm_kind");
  layer->gated_mlp = r.Bool("gated_mlp");
  attrs->has_attention_bias = r.Bool("has_attention_bias");
  if (!r.ok) return false;
  if (norm != "layer" && norm != "rms") {
    FailConstruction(ctx, "norm_kind must be layer or rms");
    return false;
  }
  layer->norm_kind = norm == "rms" ? BTK_NORM_RMS : BTK_NORM_LAYER;
  return true;
}

}  // namespace

const char* const* EncoderWeightInputNames() { return kWeightNames; }

bool ParseActivation(const std::string& name, btk_activation* activation) {
  if (name == "gelu") *activation = BTK_ACTIVATION_GELU_ERF;
  else if (name == "gelu_tanh") *activation = BTK_ACTIVATION_GELU_TANH;
  else if (name == "relu") *activation = BTK_ACTIVATION_RELU;
  else if (name == "silu") *activation = BTK_ACTIVATION_SILU;
  else return false;
  return true;
}

bool ReadEncoderLayerAttrs(TF_OpKernelConstruction* ctx, EncoderOpAttrs* attrs) {
  AttrReader r{ctx};
  EncoderLayerOptions layer{};
  layer.num_heads = r.Int("num_heads");
  layer.norm_first = r.Bool("norm_first");
  layer.causal = r.Bool("is_causal");
  layer.packed_qkv = r.Bool("packed_qkv");
  attrs->has_key_padding_mask = r.Bool("has_key_padding_mask");
  layer.eps1 = r.Float("eps1");
  layer.eps2 = r.Float("eps2");
  layer.scale = r.Float("scale");
  const std::string act = r.String("activation");
  if (r.ok && !ParseActivation(act, &layer.activation)) {
    FailConstruction(ctx, "activation must be gelu, gelu_tanh, relu or silu");
    return false;
  }
  if (!ReadT5Attrs(ctx, r, &layer, attrs)) return false;
  attrs->layers.assign(1, layer);
  return r.ok;
}

bool ReadEncoderStackAttrs(TF_OpKernelConstruction* ctx, EncoderOpAttrs* attrs) {
  AttrReader r{ctx};
  const int32_t num_layers = r.Int("num_layers");
  const int32_t n = r.Int("N");
  if (r.ok && (num_layers < 0 || n != kEncoderWeightInputs * num_layers)) {
    FailConstruction(ctx, "weights must hold 20 tensors per layer");
    return false;
  }
  EncoderLayerOptions common{};
  common.num_heads = r.Int("num_heads");
  common.norm_first = r.Bool("norm_first");
  common.causal = r.Bool("is_causal");
  common.scale = r.Float("scale");
  attrs->has_key_padding_mask = r.Bool("has_key_padding_mask");
  const std::string act = r.String("activation");
  if (r.ok && !ParseActivation(act, &common.activation)) {
    FailConstruction(ctx, "activation must be gelu, gelu_tanh, relu or silu");
    return false;
  }
  if (!ReadT5Attrs(ctx, r, &common, attrs)) return false;
  const std::vector<bool> packed_qkv = r.BoolList("packed_qkv", num_layers);
  const std::vector<float> eps1 = r.FloatList("eps1", num_layers), eps2 = r.FloatList("eps2", num_layers);
  if (!r.ok) return false;
  attrs->layers.clear();
  for (int32_t l = 0; l < num_layers; ++l) {
    EncoderLayerOptions layer = common;
    layer.packed_qkv = packed_qkv[l];
    layer.eps1 = eps1[l];
    layer.eps2 = eps2[l];
    attrs->layers.push_back(layer);
  }
  return true;
}

EncoderInput ReadEncoderInput(TF_OpKernelContext* ctx, const EncoderInputLayout& layout, const EncoderOpAttrs& attrs) {
  EncoderInput in;
  in.x = Input(ctx, layout.x, "x", TF_FLOAT);
  TensorPtr padding = Input(ctx, layout.key_padding, "key_padding_mask", static_cast<TF_DataType>(-1));
  const auto xs = ShapeOf(in.x.get());
  if (xs.size() != 3) throw InvalidArgument{"x must have rank 3 [B, S, E], got " + ShapeString(xs)};
  in.batch = xs[0];
  in.seq = xs[1];
  in.embed = xs[2];
  const std::string embed_error = bt_checks::EmbedDimError(in.embed);
  if (!embed_error.empty()) throw InvalidArgument{embed_error};
  if (attrs.has_key_padding_mask) {
    RequireShape(padding.get(), {in.batch, in.seq}, "key_padding_mask");
    in.key_valid = KeyValidity(padding.get());
  }
  TensorPtr bias = Input(ctx, layout.attention_bias, "attention_bias", TF_FLOAT);
  if (attrs.has_attention_bias && !attrs.layers.empty()) {
    // [1 or B, H, S, S]; the stack's layers share num_heads (one attribute).
    const int64_t h = attrs.layers[0].num_heads;
    const auto shape = ShapeOf(bias.get());
    if (shape.size() != 4 || (shape[0] != 1 && shape[0] != in.batch) || shape[1] != h || shape[2] != in.seq ||
        shape[3] != in.seq) {
      throw InvalidArgument{"attention_bias must have shape [1 or B, H, S, S] = [1 or " + std::to_string(in.batch) +
                            ", " + std::to_string(h) + ", " + std::to_string(in.seq) + ", " + std::to_string(in.seq) +
                            "], got " + ShapeString(shape)};
    }
    if (NumElements(shape) > 0) {
      in.bias_batch = shape[0];
      in.attention_bias = std::move(bias);
    }
  }
  return in;
}

void ReadEncoderLayerInputs(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                            const std::string& label, EncoderLayerInputs* layer) {
  const std::string heads_error = bt_checks::HeadCountError(e, options.num_heads, "num_heads");
  if (!heads_error.empty()) throw InvalidArgument{label + heads_error};
  auto& in = layer->tensors;
  in.clear();
  for (int i = 0; i < kEncoderWeightInputs; ++i) {
    in.push_back(Input(ctx, first + i, (label + kWeightNames[i]).c_str(), TF_FLOAT));
  }
  const auto name = [&](int i) { return label + kWeightNames[i]; };
  const auto require = [&](int i, const std::vector<int64_t>& shape) {
    RequireShape(in[i].get(), shape, name(i).c_str());
  };
  const auto f_shape = ShapeOf(in[kFfnInWeight].get());
  if (f_shape.size() != 2 || f_shape[0] != e || f_shape[1] < 1) {
    throw InvalidArgument{name(kFfnInWeight) + " must have shape [E, F], got " + ShapeString(f_shape)};
  }
  const int64_t f = f_shape[1];
  // A bias or beta: its shape, or a placeholder (absent: 0).
  const auto optional = [&](int i, const std::vector<int64_t>& shape) {
    if (!IsPlaceholder(in[i].get())) require(i, shape);
  };
  if (options.packed_qkv) {
    require(kQkvWeight, {e, 3 * e});
    optional(kQkvBias, {3 * e});
  } else {
    for (int i : {kQWeight, kKWeight, kVWeight}) require(i, {e, e});
    for (int i : {kQBias, kKBias, kVBias}) optional(i, {e});
  }
  require(kOutWeight, {e, e});
  for (int i : {kLn1Gamma, kLn2Gamma}) require(i, {e});
  for (int i : {kOutBias, kLn1Beta, kLn2Beta, kFfnOutBias}) optional(i, {e});
  if (options.norm_kind == BTK_NORM_RMS) {
    for (int i : {kLn1Beta, kLn2Beta})
      if (!IsPlaceholder(in[i].get())) throw InvalidArgument{name(i) + ": an RMSNorm has no beta (norm_kind rms)"};
  }
  optional(kFfnInBias, {f});
  require(kFfnOutWeight, {f, e});
  if (options.gated_mlp) {
    require(kGateWeight, {e, f});
    optional(kGateBias, {f});
  } else {
    for (int i : {kGateWeight, kGateBias})
      if (!IsPlaceholder(in[i].get())) throw InvalidArgument{name(i) + " is given but gated_mlp is false"};
  }
  layer->ffn = f;
}

void ReadEncoderLayerWeights(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                             const std::string& label, EncoderLayerWeights* layer) {
  ReadEncoderLayerInputs(ctx, first, e, options, label, &layer->inputs);
  auto& in = layer->inputs.tensors;
  const int64_t f = layer->inputs.ffn;
  // Placeholders (absent biases and betas) are null for the core.
  const auto data = [&](int i) {
    return IsPlaceholder(in[i].get()) ? nullptr : static_cast<const float*>(TF_TensorData(in[i].get()));
  };
  const auto pack = [&](int i, int64_t rows, int64_t cols) {
    layer->packed.push_back(CachedPackedWeight(in[i], rows, cols));
    return layer->packed.back().get();
  };
  btk_encoder_layer_params& p = layer->params;
  p = btk_encoder_layer_params{};
  p.num_heads = options.num_heads;
  if (options.packed_qkv) {
    p.w_qkv = pack(kQkvWeight, e, 3 * e);
    p.b_qkv = data(kQkvBias);
  } else {
    p.w_q = pack(kQWeight, e, e);
    p.w_k = pack(kKWeight, e, e);
    p.w_v = pack(kVWeight, e, e);
    p.b_q = data(kQBias);
    p.b_k = data(kKBias);
    p.b_v = data(kVBias);
  }
  p.w_o = pack(kOutWeight, e, e);
  p.b_o = data(kOutBias);
  p.w_ffn1 = pack(kFfnInWeight, e, f);
  p.b_ffn1 = data(kFfnInBias);
  p.w_ffn2 = pack(kFfnOutWeight, f, e);
  p.b_ffn2 = data(kFfnOutBias);
  p.ln1_gamma = data(kLn1Gamma);
  p.ln1_beta = data(kLn1Beta);
  p.ln2_gamma = data(kLn2Gamma);
  p.ln2_beta = data(kLn2Beta);
  p.ln1_eps = options.eps1;
  p.ln2_eps = options.eps2;
  p.activation = options.activation;
  p.norm_first = options.norm_first ? 1 : 0;
  p.causal = options.causal ? 1 : 0;
  p.attention_scale = options.scale;
  p.norm_kind = options.norm_kind;
  if (options.gated_mlp) {
    p.gated_mlp = 1;
    p.w_gate = pack(kGateWeight, e, f);
    p.b_gate = data(kGateBias);
  }
}

}  // namespace bt_tf
