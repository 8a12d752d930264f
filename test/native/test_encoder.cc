// Encoder layers with padding removal against the per-sequence double reference:
// post/pre-norm, packed and separate QKV, every activation, causal, left and
// right padding, sequences of length 0 and 1, and a two-layer stack.
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
    const int64_t f = static_cast<int64_t>(w.b1.size());
    params.num_heads = w.heads;
    if (separate_qkv) {
      for (auto* m : {&wq, &wk, &wv}) m->resize(e * e);
      for (int64_t i = 0; i < e; ++i)
        for (int64_t j = 0; j < e; ++j) {
          wq[i * e + j] = w.w_qkv[i * 3 * e + j];
          wk[i * e + j] = w.w_qkv[i * 3 * e + e + j];
          wv[i * e + j] = w.w_qkv[i * 3 * e + 2 * e + j];
        }
      bq.assign(w.b_qkv.begin(), w.b_qkv.begin() + e);
      bk.assign(w.b_qkv.begin() + e, w.b_qkv.begin() + 2 * e);
      bv.assign(w.b_qkv.begin() + 2 * e, w.b_qkv.end());
      params.w_q = pack(wq, e, e); params.w_k = pack(wk, e, e); params.w_v = pack(wv, e, e);
      params.b_q = bq.data(); params.b_k = bk.data(); params.b_v = bv.data();
    } else {
      params.w_qkv = pack(w.w_qkv, e, 3 * e);
      params.b_qkv = w.b_qkv.data();
    }
    params.w_o = pack(w.w_o, e, e);
    params.b_o = w.b_o.data();
    params.w_ffn1 = pack(w.w1, e, f);
    params.b_ffn1 = w.b1.data();
    params.w_ffn2 = pack(w.w2, f, e);
    params.b_ffn2 = w.b2.data();
    params.ln1_gamma = w.g1.data(); params.ln1_beta = w.be1.data(); params.ln1_eps = w.eps1;
    params.ln2_gamma = w.g2.data(); params.ln2_beta = w.be2.data(); params.ln2_eps = w.eps2;
    params.activation = w.activation;
    params.norm_first = w.norm_first;
    params.causal = w.causal;
    params.attention_scale = std::nanf("");  // default 1/sqrt(Dh)
  }
};

// lengths[b] real tokens per sequence, left padded when left_pad.
void check_stack(const std::vector<reference::EncoderWeights>& layers, int64_t e, const std::vector<int64_t>& lengths,
                 int64_t s, bool left_pad, bool separate_qkv, const char* name) {
  const int64_t batch = static_cast<int64_t>(lengths.size());
  std::vector<uint8_t> padding(batch * s, 0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < lengths[b]; ++t) padding[b * s + (left_pad ? s - lengths[b] + t : t)] = 1;
  const auto x = test::random_floats(batch * s * e);
  std::vector<std::unique_ptr<NativeLayer>> native;
  std::vector<btk_encoder_layer_params> params;
  for (const auto& w : layers) {
    native.emplace_back(new NativeLayer(w, e, separate_qkv));
    params.push_back(native.back()->params);
  }
  std::vector<float> y(batch * s * e, 777.0f);
  const btk_status status = btk_transformer_encoder_stack(params.data(), (int64_t)params.size(), x.data(), batch, s, e,
                                                          padding.data(), y.data());
  CHECK(status == BTK_OK, "%s: status %d", name, status);
  std::vector<double> want(batch * s * e, 0.0);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> seq;
    for (int64_t t = 0; t < s; ++t)
      if (padding[b * s + t])
        for (int64_t c = 0; c < e; ++c) seq.push_back(x[(b * s + t) * e + c]);
    for (const auto& w : layers) seq = reference::encoder_sequence(w, seq, lengths[b], e);
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
    CHECK(btk_transformer_encoder_layer(&params[0], x.data(), batch, s, e, padding.data(), y_layer.data()) == BTK_OK,
          "%s: layer status", name);
    CHECK(std::memcmp(y.data(), y_layer.data(), y.size() * sizeof(float)) == 0, "%s: layer differs from the stack",
          name);
  }
}

}  // namespace

int main() {
  test::check_requested_isa();
  const btk_activation activations[] = {BTK_ACTIVATION_GELU_ERF, BTK_ACTIVATION_GELU_TANH, BTK_ACTIVATION_RELU};
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
        check_stack({w}, e, {5, 0, 1, 9, 7}, 9, left, separate, name);
      }
  // Larger: several attention tiles per sequence, odd head dim (E=60, 5 heads -> Dh=12).
  check_stack({random_weights(60, 5, 150, BTK_ACTIVATION_GELU_ERF, false, false)}, 60, {130, 70}, 130, false, false,
              "long sequences");
  // Two layers, one post-norm and one pre-norm, staying packed in between.
  check_stack({random_weights(32, 2, 64, BTK_ACTIVATION_GELU_ERF, false, false),
               random_weights(32, 2, 48, BTK_ACTIVATION_RELU, true, true)},
              32, {3, 8, 0, 1}, 8, false, false, "two-layer stack");
  // Invalid: heads not dividing E, or a weight with the wrong shape.
  {
    auto w = random_weights(16, 4, 8, BTK_ACTIVATION_RELU, false, false);
    NativeLayer layer(w, 16, false);
    btk_encoder_layer_params bad = layer.params;
    bad.num_heads = 3;
    std::vector<float> x(16), y(16);
    CHECK(btk_transformer_encoder_stack(&bad, 1, x.data(), 1, 1, 16, nullptr, y.data()) == BTK_INVALID_ARGUMENT,
          "heads");
    CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, y.data()) == BTK_INVALID_ARGUMENT,
          "layer heads");
    bad.num_heads = 0;
    CHECK(btk_transformer_encoder_layer(&bad, x.data(), 1, 1, 16, nullptr, y.data()) == BTK_INVALID_ARGUMENT,
          "layer without heads");
    bad = layer.params;
    bad.w_o = bad.w_ffn1;
    CHECK(btk_transformer_encoder_stack(&bad, 1, x.data(), 1, 1, 16, nullptr, y.data()) == BTK_INVALID_ARGUMENT,
          "w_o shape");
    CHECK(btk_transformer_encoder_layer(nullptr, x.data(), 1, 1, 16, nullptr, y.data()) == BTK_INVALID_ARGUMENT,
          "null layer");
  }
  return test::finish("test_encoder");
}
