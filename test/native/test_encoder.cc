// Encoder layers with padding removal against the per-sequence double reference:
// post/pre-norm, packed and separate QKV, every activation, causal, left and
// right padding, sequences of length 0 and 1, and a two-layer stack; T5-class
// layers: RMSNorm, gated MLP, no biases, and the per-head attention bias
// [1 or B, H, S, S] indexed by original positions (padding anywhere).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>

#include "reference.h"
#include "test_support.h"

namespace {

reference::EncoderWeights random_weights(int64_t e, int64_t heads, int64_t f, btk_activation act, bool norm_first,
                                         bool causal) {
  reference::EncoderWeights w;
  w.heads = heads;
  const float r = 1.0f / std::sqrt((float)e);
  w.w_qkv = test::random_floats(e * 3 * e, -r, r);
  w.b_qkv = test::random_floats(3 * e, -0.1f, 0.1f);
  w.w_o = test::random_floats(e * e, -r, r);
  w.b_o = test::random_floats(e, -0.1f, 0.1f);
  w.g1 = test::random_floats(e, 0.5f, 1.5f);
  w.be1 = test::random_floats(e, -0.2f, 0.2f);
  w.g2 = test::random_floats(e, 0.5f, 1.5f);
  w.be2 = test::random_floats(e, -0.2f, 0.2f);
  w.w1 = test::random_floats(e * f, -r, r);
  w.b1 = test::random_floats(f, -0.1f, 0.1f);
  w.w2 = test::random_floats(f * e, -1.0f / std::sqrt((float)f), 1.0f / std::sqrt((float)f));
  w.b2 = test::random_floats(e, -0.1f, 0.1f);
  w.eps1 = 1e-5f;
  w.eps2 = 1e-6f;
  w.activation = act;
  w.norm_first = norm_first;
  w.causal = causal;
  return w;
}

// A T5 v1.1 layer: pre-norm RMSNorm without betas, gated gelu_tanh MLP, no biases, scale 1.
reference::EncoderWeights t5_weights(int64_t e, int64_t heads, int64_t f, bool causal = false) {
  auto w = random_weights(e, heads, f, BTK_ACTIVATION_GELU_TANH, true, causal);
  w.rms = w.gated = true;
  const float r = 1.0f / std::sqrt((float)e);
  w.wg = test::random_floats(e * f, -r, r);
  for (auto* bias : {&w.b_qkv, &w.b_o, &w.b1, &w.b2, &w.be1, &w.be2}) bias->clear();
  w.ffn = f;
  w.scale = 1.0;
  return w;
}

const float* or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

// Owns the packed weights of one layer and the btk parameter block pointing at them.
struct NativeLayer {
  btk_encoder_layer_params params{};
  std::vector<std::unique_ptr<btk_packed_weight, void (*)(btk_packed_weight*)>> owned;
  std::vector<float> wq, wk, wv, bq, bk, bv;

  const btk_packed_weight* pack(const std::vector<float>& w, int64_t rows, int64_t cols) {
    owned.emplace_back(btk_pack_weight(w.data(), rows, cols), btk_free_packed_weight);
    return owned.back().get();
  }

  NativeLayer(const reference::EncoderWeights& w, int64_t e, bool separate_qkv) {
    const int64_t f = w.ffn >= 0 ? w.ffn : static_cast<int64_t>(w.b1.size());
    params.num_heads = w.heads;
    if (separate_qkv) {
      for (auto* m : {&wq, &wk, &wv}) m->resize(e * e);
      for (int64_t i = 0; i < e; ++i)
        for (int64_t j = 0; j < e; ++j) {
          wq[i * e + j] = w.w_qkv[i * 3 * e + j];
          wk[i * e + j] = w.w_qkv[i * 3 * e + e + j];
          wv[i * e + j] = w.w_qkv[i * 3 * e + 2 * e + j];
        }
      params.w_q = pack(wq, e, e); params.w_k = pack(wk, e, e); params.w_v = pack(wv, e, e);
      if (!w.b_qkv.empty()) {
        bq.assign(w.b_qkv.begin(), w.b_qkv.begin() + e);
        bk.assign(w.b_qkv.begin() + e, w.b_qkv.begin() + 2 * e);
        bv.assign(w.b_qkv.begin() + 2 * e, w.b_qkv.end());
        params.b_q = bq.data(); params.b_k = bk.data(); params.b_v = bv.data();
      }
    } else {
      params.w_qkv = pack(w.w_qkv, e, 3 * e);
      params.b_qkv = or_null(w.b_qkv);
    }
    params.w_o = pack(w.w_o, e, e);
    params.b_o = or_null(w.b_o);
    params.w_ffn1 = pack(w.w1, e, f);
    params.b_ffn1 = or_null(w.b1);
    params.w_ffn2 = pack(w.w2, f, e);
    params.b_ffn2 = or_null(w.b2);
    params.ln1_gamma = or_null(w.g1); params.ln1_beta = or_null(w.be1); params.ln1_eps = w.eps1;
    params.ln2_gamma = or_null(w.g2); params.ln2_beta = or_null(w.be2); params.ln2_eps = w.eps2;
    params.activation = w.activation;
    params.norm_first = w.norm_first;
    params.causal = w.causal;
    params.attention_scale = std::isnan(w.scale) ? std::nanf("") : (float)w.scale;  // NaN: 1/sqrt(Dh)
    params.norm_kind = w.rms ? BTK_NORM_RMS : BTK_NORM_LAYER;
    if (w.gated) {
      params.gated_mlp = 1;
      params.w_gate = pack(w.wg, e, f);
      params.b_gate = or_null(w.bg);
    }
  }
};

enum class Padding { right, left, holes };

// lengths[b] real tokens per sequence placed per `padding` (holes: spread over the sequence with
// padding before, between and after them). bias_batch: 0 (no attention bias), 1 or B; the bias is
// NaN at every padded position, which must never be read.
void check_stack(const std::vector<reference::EncoderWeights>& layers, int64_t e, const std::vector<int64_t>& lengths,
                 int64_t s, Padding placement, bool separate_qkv, const char* name, int64_t bias_batch = 0) {
  const int64_t batch = static_cast<int64_t>(lengths.size());
  std::vector<uint8_t> padding(batch * s, 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < lengths[b]; ++t) {
      int64_t at = t;
      if (placement == Padding::left) at = s - lengths[b] + t;
      if (placement == Padding::holes) at = (t * s + (s - lengths[b]) / 2) / std::max<int64_t>(lengths[b], 1);
      padding[b * s + at] = 1;
    }
  const auto x = test::random_floats(batch * s * e);
  std::vector<std::unique_ptr<NativeLayer>> native;
  std::vector<btk_encoder_layer_params> params;
  for (const auto& w : layers) {
    native.emplace_back(new NativeLayer(w, e, separate_qkv));
    params.push_back(native.back()->params);
  }
  const int64_t heads = layers.empty() ? 1 : layers[0].heads;
  std::vector<float> bias = test::random_floats(bias_batch * heads * s * s, -2.0f, 2.0f);
  for (int64_t bb = 0; bb < bias_batch; ++bb)
    for (int64_t b = 0; b < batch; ++b) {
      if (bias_batch != 1 && b != bb) continue;
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t i = 0; i < s; ++i)
          for (int64_t j = 0; j < s; ++j)
            if (bias_batch == batch && (!padding[b * s + i] || !padding[b * s + j]))
              bias[((bb * heads + h) * s + i) * s + j] = NAN;
    }
  // A shared bias is read at every sequence's real positions; poison only positions padded everywhere.
  if (bias_batch == 1)
    for (int64_t i = 0; i < s; ++i) {
      bool used = false;
      for (int64_t b = 0; b < batch; ++b) used |= padding[b * s + i] != 0;
      if (!used)
        for (int64_t h = 0; h < heads; ++h)
          for (int64_t j = 0; j < s; ++j) bias[(h * s + i) * s + j] = bias[(h * s + j) * s + i] = NAN;
    }
  const float* bias_data = bias_batch ? bias.data() : nullptr;
  std::vector<float> y(batch * s * e, 777.0f);
  const btk_status status = btk_transformer_encoder_stack(params.data(), (int64_t)params.size(), x.data(), batch, s, e,
                                                          padding.data(), bias_data, bias_batch, y.data());
  CHECK(status == BTK_OK, "%s: status %d", name, status);
  std::vector<double> want(batch * s * e, 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> seq;
    reference::SequenceBias sequence_bias;
    if (bias_batch) {
      sequence_bias.bias = bias.data() + (bias_batch == 1 ? 0 : b * heads * s * s);
      sequence_bias.len = s;
    }
    for (int64_t t = 0; t < s; ++t)
      if (padding[b * s + t]) {
        sequence_bias.positions.push_back(t);
        for (int64_t c = 0; c < e; ++c) seq.push_back(x[(b * s + t) * e + c]);
      }
    for (const auto& w : layers) seq = reference::encoder_sequence(w, seq, lengths[b], e, sequence_bias);
    int64_t row = 0;
    for (int64_t t = 0; t < s; ++t)
      if (padding[b * s + t]) {
        for (int64_t c = 0; c < e; ++c) want[(b * s + t) * e + c] = seq[row * e + c];
        ++row;
      }
  }
  size_t at = 0;
  const double error = test::worst_error(y.data(), want.data(), y.size(), 2e-4, 2e-4, &at);
  CHECK(error <= 1.0, "%s: error ratio %g at %zu (got %g want %g)", name, error, at, y[at], want[at]);
  if (params.size() == 1) {
    // The layer entry point is the stack of that one layer: the same values, bit for bit.
    std::vector<float> y_layer(batch * s * e, 777.0f);
    CHECK(btk_transformer_encoder_layer(&params[0], x.data(), batch, s, e, padding.data(), bias_data, bias_batch,
                                        y_layer.data()) == BTK_OK,
          "%s: layer status", name);
    CHECK(std::memcmp(y.data(), y_layer.data(), y.size() * sizeof(float)) == 0, "%s: layer differs from the stack",
          name);
  }
}

// Arguments the core must refuse (BTK_INVALID_ARGUMENT) before touching memory.
void check_refusals() {
  auto w = random_weights(16, 4, 8, BTK_ACTIVATION_RELU, false, false);
  NativeLayer layer(w, 16, false);
  btk_encoder_layer_params bad = layer.params;
  bad.num_heads = 3;
  std::vector<float> x(2 * 16), y(2 * 16), bias(2 * 4 * 1 * 1);
  CHECK(btk_transformer_encoder_stack(&bad, 1, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_INVALID_ARGUMENT,
        "heads");
  CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_INVALID_ARGUMENT,
        "layer heads");
  bad.num_heads = 0;
  CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_INVALID_ARGUMENT,
        "layer without heads");
  bad = layer.params;
  bad.w_o = bad.w_ffn1;
  CHECK(btk_transformer_encoder_stack(&bad, 1, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_INVALID_ARGUMENT,
        "w_o shape");
  CHECK(btk_transformer_encoder_layer(nullptr, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_INVALID_ARGUMENT,
        "null layer");
  auto refused = [&](const btk_encoder_layer_params& p, const float* b, int64_t bias_batch, int64_t batch,
                     const char* what) {
    CHECK(btk_transformer_encoder_layer(&p, x.data(), batch, 1, 16, nullptr, b, bias_batch, y.data()) ==
              BTK_INVALID_ARGUMENT,
          "%s", what);
  };
  // RMSNorm has no beta; an unknown norm kind.
  bad = layer.params;
  bad.norm_kind = BTK_NORM_RMS;
  refused(bad, nullptr, 0, 1, "RMSNorm with ln1 beta");
  bad.ln1_beta = nullptr;
  refused(bad, nullptr, 0, 1, "RMSNorm with ln2 beta");
  bad.ln2_beta = nullptr;
  CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_OK,
        "RMSNorm without betas");
  bad.norm_kind = static_cast<btk_norm_kind>(7);
  refused(bad, nullptr, 0, 1, "norm kind 7");
  // Gated MLP: the gate weight is required, [E, F]; none without the flag.
  bad = layer.params;
  bad.gated_mlp = 1;
  refused(bad, nullptr, 0, 1, "gated without w_gate");
  bad.w_gate = bad.w_o;  // [16, 16], F is 8
  refused(bad, nullptr, 0, 1, "w_gate shape");
  bad.w_gate = bad.w_ffn1;
  CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_OK,
        "gated with w_gate [E, F]");
  bad.gated_mlp = 0;
  refused(bad, nullptr, 0, 1, "w_gate without gated_mlp");
  bad.w_gate = nullptr;
  bad.b_gate = bias.data();
  refused(bad, nullptr, 0, 1, "b_gate without gated_mlp");
  // The attention bias: batch 0 / 1 / B with data exactly when nonzero; one head count for all layers.
  refused(layer.params, bias.data(), 0, 1, "bias without bias_batch");
  refused(layer.params, nullptr, 1, 1, "bias_batch without bias");
  refused(layer.params, bias.data(), 2, 1, "bias_batch 2 for batch 1");
  refused(layer.params, bias.data(), -1, 1, "bias_batch -1");
  refused(layer.params, bias.data(), 3, 2, "bias_batch 3 for batch 2");
  CHECK(btk_transformer_encoder_layer(&layer.params, x.data(), 2, 1, 16, nullptr, bias.data(), 2, y.data()) == BTK_OK,
        "bias_batch B");
  auto w8 = random_weights(16, 8, 8, BTK_ACTIVATION_RELU, false, false);
  NativeLayer layer8(w8, 16, false);
  const btk_encoder_layer_params two[2] = {layer.params, layer8.params};
  CHECK(btk_transformer_encoder_stack(two, 2, x.data(), 1, 1, 16, nullptr, nullptr, 0, y.data()) == BTK_OK,
        "different head counts without a bias");
  CHECK(btk_transformer_encoder_stack(two, 2, x.data(), 1, 1, 16, nullptr, bias.data(), 1, y.data()) ==
            BTK_INVALID_ARGUMENT,
        "different head counts with a bias");
}

}  // namespace

int main() {
  test::check_requested_isa();
  const btk_activation activations[] = {BTK_ACTIVATION_GELU_ERF, BTK_ACTIVATION_GELU_TANH, BTK_ACTIVATION_RELU,
                                       BTK_ACTIVATION_SILU};
  int variant = 0;
  for (int norm_first = 0; norm_first <= 1; ++norm_first)
    for (int causal = 0; causal <= 1; ++causal)
      for (btk_activation act : activations) {
        const int64_t e = 48, heads = 4, f = 80;
        const auto w = random_weights(e, heads, f, act, norm_first, causal);
        const bool separate = (variant++ % 2) == 1, left = causal == 1;
        char name[128];
        std::snprintf(name, sizeof name, "layer norm_first=%d causal=%d act=%d separate=%d left_pad=%d", norm_first,
                      causal, act, separate, left);
        check_stack({w}, e, {5, 0, 1, 9, 7}, 9, left ? Padding::left : Padding::right, separate, name);
      }
  // Larger: several attention tiles per sequence, odd head dim (E=60, 5 heads -> Dh=12).
  check_stack({random_weights(60, 5, 150, BTK_ACTIVATION_GELU_ERF, false, false)}, 60, {130, 70}, 130, Padding::right,
              false, "long sequences");
  // Two layers, one post-norm and one pre-norm, staying packed in between.
  check_stack({random_weights(32, 2, 64, BTK_ACTIVATION_GELU_ERF, false, false),
               random_weights(32, 2, 48, BTK_ACTIVATION_RELU, true, true)},
              32, {3, 8, 0, 1}, 8, Padding::right, false, "two-layer stack");

  // T5-class layers: every padding placement, both bias batch forms, packed and separate QKV.
  const Padding placements[] = {Padding::right, Padding::left, Padding::holes};
  for (Padding placement : placements)
    for (int64_t bias_batch : {int64_t(0), int64_t(1), int64_t(5)})
      for (int separate = 0; separate <= 1; ++separate) {
        char name[128];
        std::snprintf(name, sizeof name, "t5 layer padding=%d bias_batch=%ld separate=%d", (int)placement,
                      (long)bias_batch, separate);
        check_stack({t5_weights(40, 5, 56)}, 40, {5, 0, 1, 11, 7}, 11, placement, separate, name, bias_batch);
      }
  // Bias with the causal rule and with every other layer form (post-norm, LayerNorm, plain MLP, biases).
  check_stack({t5_weights(24, 3, 40, true)}, 24, {6, 2, 9}, 9, Padding::holes, false, "t5 causal, bias [B,H,S,S]", 3);
  check_stack({random_weights(32, 4, 48, BTK_ACTIVATION_GELU_ERF, false, false)}, 32, {4, 7}, 8, Padding::left, true,
              "bert layer with a bias", 1);
  {
    auto w = random_weights(32, 4, 48, BTK_ACTIVATION_RELU, false, true);
    w.rms = true;
    w.be1.clear(); w.be2.clear(); w.g2.clear();
    check_stack({w}, 32, {5, 3}, 6, Padding::holes, false, "post-norm RMSNorm, ln2 gamma absent", 2);
    auto g = random_weights(32, 4, 48, BTK_ACTIVATION_GELU_ERF, false, false);
    g.gated = true;
    g.wg = test::random_floats(32 * 48, -0.2f, 0.2f);
    g.bg = test::random_floats(48, -0.1f, 0.1f);
    check_stack({g}, 32, {5, 3}, 6, Padding::right, true, "post-norm LayerNorm, gated gelu with biases");
  }
  // Several tiles per sequence (64-wide attention tiles) with holes and a shared bias; a T5 stack.
  check_stack({t5_weights(48, 4, 64)}, 48, {150, 67, 1}, 150, Padding::holes, false, "t5 long, shared bias", 1);
  check_stack({t5_weights(48, 4, 64)}, 48, {130, 99}, 140, Padding::left, true, "t5 long, bias per sequence", 2);
  check_stack({t5_weights(32, 4, 40), t5_weights(32, 4, 72), t5_weights(32, 4, 24)}, 32, {3, 8, 0, 1, 6}, 8,
              Padding::holes, false, "t5 three-layer stack", 1);
  check_stack({t5_weights(32, 4, 40), random_weights(32, 4, 48, BTK_ACTIVATION_RELU, true, false)}, 32, {4, 6}, 6,
              Padding::right, true, "t5 layer then a LayerNorm layer, bias [B,H,S,S]", 2);
  check_refusals();
  return test::finish("test_encoder");
}
