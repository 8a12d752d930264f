#include "encoder_weights.h"

namespace bt_tf {
namespace {

enum Weight {
  kQkvWeight, kQkvBias, kQWeight, kKWeight, kVWeight, kQBias, kKBias, kVBias, kOutWeight, kOutBias,
  kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnInWeight, kFfnInBias, kFfnOutWeight, kFfnOutBias,
};

const char* const kWeightNames[kEncoderWeightInputs] = {
  "qkv_weight", "qkv_bias", "q_weight", "k_weight", "v_weight", "q_bias", "k_bias", "v_bias", "out_weight",
  "out_bias", "ln1_gamma", "ln1_beta", "ln2_gamma", "ln2_beta", "ffn_in_weight", "ffn_in_bias", "ffn_out_weight",
  "ffn_out_bias",
};

}  // namespace

const char* const* EncoderWeightInputNames() { return kWeightNames; }

bool ParseActivation(const std::string& name, btk_activation* activation) {
  if (name == "gelu") *activation = BTK_ACTIVATION_GELU_ERF;
  else if (name == "gelu_tanh") *activation = BTK_ACTIVATION_GELU_TANH;
  else if (name == "relu") *activation = BTK_ACTIVATION_RELU;
  else return false;
  return true;
}

void ReadEncoderLayerWeights(TF_OpKernelContext* ctx, int first, int64_t e, const EncoderLayerOptions& options,
                             const std::string& label, EncoderLayerWeights* layer) {
  if (options.num_heads < 1 || e % options.num_heads != 0) {
    throw InvalidArgument{label + "E = " + std::to_string(e) + " must be a multiple of num_heads = " +
                          std::to_string(options.num_heads)};
  }
  auto& in = layer->inputs;
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
  if (options.packed_qkv) {
    require(kQkvWeight, {e, 3 * e});
    require(kQkvBias, {3 * e});
  } else {
    for (int i : {kQWeight, kKWeight, kVWeight}) require(i, {e, e});
    for (int i : {kQBias, kKBias, kVBias}) require(i, {e});
  }
  require(kOutWeight, {e, e});
  for (int i : {kOutBias, kLn1Gamma, kLn1Beta, kLn2Gamma, kLn2Beta, kFfnOutBias}) require(i, {e});
  require(kFfnInBias, {f});
  require(kFfnOutWeight, {f, e});

  const auto data = [&](int i) { return static_cast<const float*>(TF_TensorData(in[i].get())); };
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
}

EncoderInput ReadEncoderInput(TF_OpKernelContext* ctx, int x_input, int padding_input, bool has_key_padding_mask) {
  EncoderInput in;
  in.x = Input(ctx, x_input, "x", TF_FLOAT);
  TensorPtr padding = Input(ctx, padding_input, "key_padding_mask", static_cast<TF_DataType>(-1));
  const auto xs = ShapeOf(in.x.get());
  if (xs.size() != 3) throw InvalidArgument{"x must have rank 3 [B, S, E], got " + ShapeString(xs)};
  in.batch = xs[0];
  in.seq = xs[1];
  in.embed = xs[2];
  if (in.embed < 1) throw InvalidArgument{"E must be at least 1"};
  if (has_key_padding_mask) {
    RequireShape(padding.get(), {in.batch, in.seq}, "key_padding_mask");
    in.key_valid = KeyValidity(padding.get());
  }
  return in;
}

void RunEncoderStack(TF_OpKernelContext* ctx, const EncoderInput& input,
                     const std::vector<btk_encoder_layer_params>& layers, const char* what) {
  TensorPtr y = Output(ctx, 0, {input.batch, input.seq, input.embed});
  CheckBtk(btk_encoder_stack(layers.data(), static_cast<int64_t>(layers.size()), FloatData(input.x.get()), input.batch,
                             input.seq, input.embed, input.key_valid.empty() ? nullptr : input.key_valid.data(),
                             FloatData(y.get())),
           what);
}

}  // namespace bt_tf
