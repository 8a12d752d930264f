// The encoder-decoder additions to btk_transformer_decoder_stack against a
// double-precision reference that recomputes each whole sequence: filling the
// cross key/value caches from encoder states, cross-attention over ragged
// source masks (pre- and post-norm layers, GQA, odd sizes, bfloat16 weights),
// T5's per-distance self-attention bias, BART's embedding norm, prefill (tiled kernel) then decoding
// (one pass per kv head), and the edge cases (no sequences, no new tokens).
// Then btk_reorder_cache (beam search) with repeated and moved rows.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../kernels/include/btk.h"
#include "reference.h"
#include "test_support.h"

namespace {

float bf16_round(float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  bits &= 0xffff0000u;
  float y;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

bool rounds_activations() { return std::strcmp(btk_isa_name(), "avx512_bf16") == 0; }

const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

struct Config {
  const char* name;
  int64_t layers, vocab, e, heads, kv_heads, d, ffn, source_len;
  btk_norm_kind norm;
  bool norm_first, gated, biases, final_norm, position_bias, source_mask;
  btk_activation activation;
  bool embedding_norm;  // BART's layernorm_embedding
};

struct Layer {
  std::vector<float> n1g, n1b, n2g, n2b, ncg, ncb, wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, wu, bu, wd, bd;
  std::vector<float> wcq, bcq, wck, bck, wcv, bcv, wco, bco;
};

struct Model {
  Config c;
  std::vector<float> word, fng, fnb, head, head_bias, bias_table, eng, enb;  // bias_table [H, P]
  std::vector<Layer> layers;
  int64_t bias_rows = 30;
};

std::vector<float> scaled(int64_t n, float scale) {
  std::vector<float> w = test::random_floats(n);
  for (auto& x : w) x *= scale;
  return w;
}

Model make_model(const Config& c) {
  Model m;
  m.c = c;
  const int64_t qw = c.heads * c.d, kw = c.kv_heads * c.d;
  const float s = 1.0f / std::sqrt((float)c.e);
  auto maybe = [&](int64_t n) { return c.biases ? scaled(n, 0.1f) : std::vector<float>(); };
  auto beta = [&](int64_t n) { return c.norm == BTK_NORM_LAYER ? scaled(n, 0.1f) : std::vector<float>(); };
  m.word = scaled(c.vocab * c.e, 0.5f);
  for (int64_t l = 0; l < c.layers; ++l) {
    Layer L;
    L.n1g = test::random_floats(c.e, 0.8f, 1.2f);
    L.n2g = test::random_floats(c.e, 0.8f, 1.2f);
    L.ncg = test::random_floats(c.e, 0.8f, 1.2f);
    L.n1b = beta(c.e);
    L.n2b = beta(c.e);
    L.ncb = beta(c.e);
    L.wq = scaled(c.e * qw, s), L.wk = scaled(c.e * kw, s), L.wv = scaled(c.e * kw, s), L.wo = scaled(qw * c.e, s);
    L.bq = maybe(qw), L.bk = maybe(kw), L.bv = maybe(kw), L.bo = maybe(c.e);
    L.wcq = scaled(c.e * qw, s), L.wck = scaled(c.e * kw, s), L.wcv = scaled(c.e * kw, s), L.wco = scaled(qw * c.e, s);
    L.bcq = maybe(qw), L.bck = maybe(kw), L.bcv = maybe(kw), L.bco = maybe(c.e);
    if (c.gated) L.wg = scaled(c.e * c.ffn, s), L.bg = maybe(c.ffn);
    L.wu = scaled(c.e * c.ffn, s), L.bu = maybe(c.ffn);
    L.wd = scaled(c.ffn * c.e, 1.0f / std::sqrt((float)c.ffn)), L.bd = maybe(c.e);
    m.layers.push_back(L);
  }
  if (c.final_norm) m.fng = test::random_floats(c.e, 0.8f, 1.2f), m.fnb = beta(c.e);
  m.head = scaled(c.e * c.vocab, s);
  m.head_bias = maybe(c.vocab);
  if (c.position_bias) m.bias_table = scaled(c.heads * m.bias_rows, 1.0f);
  if (c.embedding_norm) m.eng = test::random_floats(c.e, 0.8f, 1.2f), m.enb = beta(c.e);
  return m;
}

struct Descriptors {
  btk_decoder model{};
  std::vector<btk_decoder_layer> layers;
  std::vector<btk_packed_weight*> handles;
  ~Descriptors() {
    for (auto* h : handles) btk_free_packed_weight(h);
  }
  btk_weight weight(const std::vector<float>& w, int64_t in, int64_t out, bool bf16) {
    btk_weight result{ptr(w), in, out, 0, nullptr};
    if (bf16 && !w.empty()) {
      result.packed = btk_pack_weight_bf16(w.data(), in, out, 0);
      handles.push_back(const_cast<btk_packed_weight*>(result.packed));
    }
    return result;
  }
};

void describe(const Model& m, bool bf16, Descriptors& out) {
  const Config& c = m.c;
  const int64_t qw = c.heads * c.d, kw = c.kv_heads * c.d;
  for (const Layer& L : m.layers) {
    btk_decoder_layer d{};
    d.norm1_gamma = ptr(L.n1g), d.norm1_beta = ptr(L.n1b), d.norm2_gamma = ptr(L.n2g), d.norm2_beta = ptr(L.n2b);
    d.cross_norm_gamma = ptr(L.ncg), d.cross_norm_beta = ptr(L.ncb);
    d.norm1_eps = d.norm2_eps = 1e-5f;
    d.cross_norm_eps = 1e-6f;
    d.w_q = out.weight(L.wq, c.e, qw, bf16), d.w_k = out.weight(L.wk, c.e, kw, bf16);
    d.w_v = out.weight(L.wv, c.e, kw, bf16), d.w_o = out.weight(L.wo, qw, c.e, bf16);
    d.b_q = ptr(L.bq), d.b_k = ptr(L.bk), d.b_v = ptr(L.bv), d.b_o = ptr(L.bo);
    d.w_cross_q = out.weight(L.wcq, c.e, qw, bf16), d.w_cross_k = out.weight(L.wck, c.e, kw, bf16);
    d.w_cross_v = out.weight(L.wcv, c.e, kw, bf16), d.w_cross_o = out.weight(L.wco, qw, c.e, bf16);
    d.b_cross_q = ptr(L.bcq), d.b_cross_k = ptr(L.bck), d.b_cross_v = ptr(L.bcv), d.b_cross_o = ptr(L.bco);
    if (c.gated) d.w_gate = out.weight(L.wg, c.e, c.ffn, bf16), d.b_gate = ptr(L.bg);
    d.w_up = out.weight(L.wu, c.e, c.ffn, bf16), d.b_up = ptr(L.bu);
    d.w_down = out.weight(L.wd, c.ffn, c.e, bf16), d.b_down = ptr(L.bd);
    out.layers.push_back(d);
  }
  btk_decoder& d = out.model;
  d.num_layers = c.layers, d.vocab_size = c.vocab, d.embed_dim = c.e;
  d.num_heads = c.heads, d.num_kv_heads = c.kv_heads, d.head_dim = c.d;
  d.norm_kind = c.norm, d.norm_first = c.norm_first, d.activation = c.activation, d.gated_mlp = c.gated;
  d.attention_scale = c.position_bias ? 1.0f : 1.0f / std::sqrt((float)c.d);  // T5 does not scale
  d.word_embeddings = m.word.data();
  d.embedding_scale = 1.0f;
  d.layers = out.layers.data();
  d.has_final_norm = c.final_norm, d.final_norm_gamma = ptr(m.fng), d.final_norm_beta = ptr(m.fnb);
  d.final_norm_eps = 1e-5f;
  d.lm_head = out.weight(m.head, c.e, c.vocab, bf16);
  d.lm_head_bias = ptr(m.head_bias);
  d.cross_attention = 1;
  d.position_bias = ptr(m.bias_table);
  d.position_bias_rows = c.position_bias ? m.bias_rows : 0;
  d.has_embedding_norm = c.embedding_norm;
  d.embedding_norm_gamma = ptr(m.eng), d.embedding_norm_beta = ptr(m.enb);
  d.embedding_norm_eps = 1e-5f;
}

// ---- the double-precision reference -------------------------------------------------------

using Rows = std::vector<double>;  // [len][width]

struct Reference {
  const Model& m;
  bool bf16;
  std::vector<float> w(const std::vector<float>& x) const {
    if (!bf16) return x;
    std::vector<float> y(x.size());
    for (size_t i = 0; i < x.size(); ++i) y[i] = bf16_round(x[i]);
    return y;
  }
  Rows matmul(const Rows& a, int64_t len, int64_t k, const std::vector<float>& weight, int64_t n,
              const std::vector<float>& bias) const {
    const std::vector<float> b = w(weight);
    Rows out(len * n);
    for (int64_t i = 0; i < len; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = bias.empty() ? 0.0 : bias[j];
        for (int64_t p = 0; p < k; ++p) s += a[i * k + p] * b[p * n + j];
        out[i * n + j] = s;
      }
    return out;
  }
  Rows norm(Rows x, int64_t len, const std::vector<float>& g, const std::vector<float>& beta, double eps) const {
    const int64_t e = m.c.e;
    for (int64_t r = 0; r < len; ++r) {
      double* row = &x[r * e];
      if (m.c.norm == BTK_NORM_RMS) {
        double sq = 0.0;
        for (int64_t i = 0; i < e; ++i) sq += row[i] * row[i];
        const double inv = 1.0 / std::sqrt(sq / e + eps);
        for (int64_t i = 0; i < e; ++i) row[i] = row[i] * inv * g[i];
      } else {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < e; ++i) mean += row[i];
        mean /= e;
        for (int64_t i = 0; i < e; ++i) var += (row[i] - mean) * (row[i] - mean);
        var /= e;
        for (int64_t i = 0; i < e; ++i)
          row[i] = (row[i] - mean) / std::sqrt(var + eps) * g[i] + (beta.empty() ? 0.0 : beta[i]);
      }
    }
    return x;
  }
  // Attention of len queries over keys [klen]: causal with the position bias (self) or over the real keys (cross).
  Rows attend(const Rows& q, int64_t len, const Rows& k, const Rows& v, int64_t klen, bool self,
              const std::vector<int32_t>& real) const {
    const Config& c = m.c;
    const int64_t qw = c.heads * c.d, kw = c.kv_heads * c.d;
    const double scale = c.position_bias ? 1.0 : 1.0 / std::sqrt((double)c.d);
    Rows ctx(len * qw, 0.0);
    for (int64_t h = 0; h < c.heads; ++h) {
      const int64_t g = h / (c.heads / c.kv_heads);
      for (int64_t i = 0; i < len; ++i) {
        std::vector<double> s(klen, -INFINITY);
        double max = -INFINITY;
        for (int64_t j = 0; j < klen; ++j) {
          if (self ? j > i : !real[j]) continue;
          double dot = 0.0;
          for (int64_t x = 0; x < c.d; ++x) dot += q[i * qw + h * c.d + x] * k[j * kw + g * c.d + x];
          s[j] = scale * dot + (self && c.position_bias ? m.bias_table[h * m.bias_rows + i - j] : 0.0);
          max = std::max(max, s[j]);
        }
        double sum = 0.0;
        for (auto& value : s) sum += (value = std::exp(value - max));
        for (int64_t x = 0; x < c.d; ++x) {
          double o = 0.0;
          for (int64_t j = 0; j < klen; ++j) o += s[j] / sum * v[j * kw + g * c.d + x];
          ctx[i * qw + h * c.d + x] = o;
        }
      }
    }
    return ctx;
  }
  // The cross keys (values) of layer l for one sequence's encoder rows [S][E]: [S][Hkv D].
  Rows cross_kv(const Layer& L, const Rows& enc, bool values) const {
    return matmul(enc, m.c.source_len, m.c.e, values ? L.wcv : L.wck, m.c.kv_heads * m.c.d, values ? L.bcv : L.bck);
  }
  // Logits of every position of `ids` [len][vocab] for one sequence.
  Rows logits(const std::vector<int32_t>& ids, const Rows& enc, const std::vector<int32_t>& real) const {
    const Config& c = m.c;
    const int64_t len = static_cast<int64_t>(ids.size()), e = c.e, qw = c.heads * c.d, kw = c.kv_heads * c.d;
    Rows x(len * e);
    for (int64_t t = 0; t < len; ++t)
      for (int64_t i = 0; i < e; ++i) x[t * e + i] = m.word[ids[t] * e + i];
    if (c.embedding_norm) x = norm(x, len, m.eng, m.enb, 1e-5);
    auto add = [](Rows a, const Rows& b) {
      for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
      return a;
    };
    for (const Layer& L : m.layers) {
      auto self = [&](const Rows& h) {
        const Rows q = matmul(h, len, e, L.wq, qw, L.bq), k = matmul(h, len, e, L.wk, kw, L.bk),
                   v = matmul(h, len, e, L.wv, kw, L.bv);
        return matmul(attend(q, len, k, v, len, true, real), len, qw, L.wo, e, L.bo);
      };
      auto cross = [&](const Rows& h) {
        const Rows q = matmul(h, len, e, L.wcq, qw, L.bcq);
        return matmul(attend(q, len, cross_kv(L, enc, false), cross_kv(L, enc, true), c.source_len, false, real), len,
                      qw, L.wco, e, L.bco);
      };
      auto mlp = [&](const Rows& h) {
        Rows up = matmul(h, len, e, L.wu, c.ffn, L.bu);
        if (c.gated) {
          const Rows gate = matmul(h, len, e, L.wg, c.ffn, L.bg);
          for (int64_t i = 0; i < len * c.ffn; ++i) up[i] *= reference::activate(gate[i], c.activation);
        } else {
          for (auto& value : up) value = reference::activate(value, c.activation);
        }
        return matmul(up, len, c.ffn, L.wd, e, L.bd);
      };
      if (c.norm_first) {
        x = add(x, self(norm(x, len, L.n1g, L.n1b, 1e-5)));
        x = add(x, cross(norm(x, len, L.ncg, L.ncb, 1e-6)));
        x = add(x, mlp(norm(x, len, L.n2g, L.n2b, 1e-5)));
      } else {
        x = norm(add(x, self(x)), len, L.n1g, L.n1b, 1e-5);
        x = norm(add(x, cross(x)), len, L.ncg, L.ncb, 1e-6);
        x = norm(add(x, mlp(x)), len, L.n2g, L.n2b, 1e-5);
      }
    }
    if (c.final_norm) x = norm(x, len, m.fng, m.fnb, 1e-5);
    return matmul(x, len, e, m.head, c.vocab, m.head_bias);
  }
};

// ---- the step, prefill then decoding ------------------------------------------------------

void check_seq2seq(const Config& c, bool bf16) {
  const Model m = make_model(c);
  Descriptors desc;
  describe(m, bf16, desc);
  const Reference ref{m, bf16};
  const int64_t batch = 3, capacity = 26, s_len = c.source_len, kw = c.kv_heads * c.d;
  const std::vector<int64_t> prompt = {20, 1, 3};  // the longest takes the tiled kernel, the others decode's
  std::vector<std::vector<int32_t>> seqs(batch);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < prompt[b]; ++i) seqs[b].push_back(test::random_int(0, (int)c.vocab - 1));
  const std::vector<float> encoder = test::random_floats(batch * s_len * c.e);
  // Ragged masks of any pattern: row 0 all real, row 1 padded at the end, row 2 at the start and a hole.
  std::vector<int32_t> mask(batch * s_len, 1);
  if (c.source_mask) {
    for (int64_t s = s_len / 2 + 1; s < s_len; ++s) mask[1 * s_len + s] = 0;
    for (int64_t s = 0; s < s_len / 3; ++s) mask[2 * s_len + s] = 0;
    if (s_len > 3) mask[2 * s_len + s_len - 2] = 0;
  }
  std::vector<Rows> enc(batch);
  std::vector<std::vector<int32_t>> real(batch);
  for (int64_t b = 0; b < batch; ++b) {
    enc[b].assign(encoder.begin() + b * s_len * c.e, encoder.begin() + (b + 1) * s_len * c.e);
    real[b].assign(mask.begin() + b * s_len, mask.begin() + (b + 1) * s_len);
  }
  std::vector<float> key_cache(c.layers * batch * c.kv_heads * capacity * c.d, NAN), value_cache(key_cache.size(), NAN);
  std::vector<float> cross_k(c.layers * batch * kw * s_len, NAN), cross_v(cross_k.size(), NAN);
  std::vector<int32_t> past(batch, 0), lengths(batch), fresh(batch);
  const double atol = bf16 ? (rounds_activations() ? 3e-2 : 2e-3) : 3e-5, rtol = bf16 ? 1e-2 : 3e-5;

  const int64_t n0 = 20;
  std::vector<int32_t> ids(batch * n0, -7);
  for (int64_t b = 0; b < batch; ++b) {
    fresh[b] = static_cast<int32_t>(prompt[b]);
    for (int64_t i = 0; i < prompt[b]; ++i) ids[b * n0 + i] = seqs[b][i];
  }
  std::vector<float> logits(batch * n0 * c.vocab, 5.0f);
  btk_decoder_step step{};
  step.batch = batch, step.new_len = n0, step.capacity = capacity, step.input_ids = ids.data();
  step.past_lengths = past.data(), step.new_lengths = fresh.data();
  step.key_cache = key_cache.data(), step.value_cache = value_cache.data();
  step.logits_rows = BTK_LOGITS_ALL, step.logits = logits.data(), step.lengths = lengths.data();
  step.source_len = s_len, step.encoder_states = encoder.data(), step.source_mask = c.source_mask ? mask.data() : nullptr;
  step.cross_key_cache = cross_k.data(), step.cross_value_cache = cross_v.data();
  CHECK(btk_transformer_decoder_stack(&desc.model, &step) == BTK_OK, "%s prefill status", c.name);

  // The cross caches hold every layer's keys/values of every source row, [l, b, g, s, d].
  for (int64_t l = 0; l < c.layers; ++l)
    for (int64_t b = 0; b < batch; ++b)
      for (int values = 0; values < 2; ++values) {
        const Rows want = ref.cross_kv(m.layers[l], enc[b], values == 1);
        std::vector<double> want_cache(kw * s_len);
        for (int64_t g = 0; g < c.kv_heads; ++g)
          for (int64_t s = 0; s < s_len; ++s)
            for (int64_t x = 0; x < c.d; ++x) want_cache[(g * s_len + s) * c.d + x] = want[s * kw + g * c.d + x];
        const float* got = (values ? cross_v : cross_k).data() + (l * batch + b) * kw * s_len;
        const double tol = bf16 && rounds_activations() ? 1e-2 : atol;
        CHECK(test::worst_error(got, want_cache.data(), want_cache.size(), tol, rtol) <= 1.0,
              "%s bf16=%d cross %s cache layer %ld seq %ld", c.name, bf16, values ? "value" : "key", (long)l, (long)b);
      }
  for (int64_t b = 0; b < batch; ++b) {
    const Rows want = ref.logits(seqs[b], enc[b], real[b]);
    size_t where = 0;
    const double error = test::worst_error(logits.data() + b * n0 * c.vocab, want.data(), prompt[b] * c.vocab, atol,
                                           rtol, &where);
    CHECK(error <= 1.0, "%s bf16=%d prefill seq %ld: error %g at %zu", c.name, bf16, (long)b, error, where);
    past[b] = lengths[b];
  }
  // Padded source rows are never read: poison them in the cross caches.
  for (int64_t l = 0; l < c.layers; ++l)
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t g = 0; g < c.kv_heads; ++g)
        for (int64_t s = 0; s < s_len; ++s)
          if (!mask[b * s_len + s])
            for (int64_t x = 0; x < c.d; ++x) {
              const int64_t at = (((l * batch + b) * c.kv_heads + g) * s_len + s) * c.d + x;
              cross_k[at] = cross_v[at] = NAN;
            }
  // Decode: the caches as they are (no encoder states), 1 token per step (sequence 1 skips one), then 2.
  for (int step_index = 0; step_index < 4; ++step_index) {
    const int64_t n = step_index == 3 ? 2 : 1;
    std::vector<int32_t> step_ids(batch * n);
    for (int64_t b = 0; b < batch; ++b) {
      fresh[b] = (b == 1 && step_index == 1) ? 0 : static_cast<int32_t>(n);
      for (int64_t i = 0; i < n; ++i) step_ids[b * n + i] = test::random_int(0, (int)c.vocab - 1);
    }
    std::vector<float> last(batch * c.vocab, 5.0f);
    btk_decoder_step s = step;
    s.new_len = n, s.input_ids = step_ids.data(), s.logits_rows = BTK_LOGITS_LAST, s.logits = last.data();
    s.encoder_states = nullptr;
    CHECK(btk_transformer_decoder_stack(&desc.model, &s) == BTK_OK, "%s decode status", c.name);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < fresh[b]; ++i) seqs[b].push_back(step_ids[b * n + i]);
      if (fresh[b] == 0) continue;
      const Rows want = ref.logits(seqs[b], enc[b], real[b]);
      const int64_t t = static_cast<int64_t>(seqs[b].size()) - 1;
      size_t where = 0;
      const double error =
          test::worst_error(last.data() + b * c.vocab, want.data() + t * c.vocab, c.vocab, atol, rtol, &where);
      CHECK(error <= 1.0, "%s bf16=%d decode step %d seq %ld: error %g at %zu", c.name, bf16, step_index, (long)b,
            error, where);
      past[b] = lengths[b];
    }
  }

  // Refusals, before anything is written.
  const std::vector<float> before = key_cache;
  std::vector<int32_t> one(batch, 1), tokens(batch, 0);
  std::vector<float> last(batch * c.vocab);
  btk_decoder_step s = step;
  s.new_len = 1, s.input_ids = tokens.data(), s.new_lengths = one.data(), s.logits_rows = BTK_LOGITS_LAST;
  s.logits = last.data(), s.encoder_states = nullptr;
  std::vector<int32_t> no_source = mask;
  for (int64_t x = 0; x < s_len; ++x) no_source[1 * s_len + x] = 0;
  s.source_mask = no_source.data();
  CHECK(btk_transformer_decoder_stack(&desc.model, &s) == BTK_INVALID_ARGUMENT, "%s a row with no source", c.name);
  s.source_mask = step.source_mask;
  s.cross_key_cache = nullptr;
  CHECK(btk_transformer_decoder_stack(&desc.model, &s) == BTK_INVALID_ARGUMENT, "%s missing cross cache", c.name);
  s.cross_key_cache = cross_k.data();
  btk_decoder model = desc.model;
  model.parallel = 1;
  CHECK(btk_transformer_decoder_stack(&model, &s) == BTK_INVALID_ARGUMENT, "%s parallel with cross", c.name);
  model = desc.model;
  model.cross_attention = 0;
  CHECK(btk_transformer_decoder_stack(&model, &s) == BTK_INVALID_ARGUMENT, "%s cross weights without cross", c.name);
  if (c.position_bias) {
    model = desc.model;
    model.position_bias_rows = past[0];  // the next position is past the table
    CHECK(btk_transformer_decoder_stack(&model, &s) == BTK_INVALID_ARGUMENT, "%s position past the bias", c.name);
  }
  std::vector<btk_decoder_layer> layers = desc.layers;
  layers[0].w_cross_k = btk_weight{};
  model = desc.model;
  model.layers = layers.data();
  CHECK(btk_transformer_decoder_stack(&model, &s) == BTK_INVALID_ARGUMENT, "%s missing cross weight", c.name);
  CHECK(std::memcmp(before.data(), key_cache.data(), sizeof(float) * before.size()) == 0, "%s cache untouched", c.name);

  // No sequences at all; a step with no new token still fills the cross caches.
  btk_decoder_step empty = step;
  empty.batch = 0;
  CHECK(btk_transformer_decoder_stack(&desc.model, &empty) == BTK_OK, "%s B = 0", c.name);
  std::vector<float> refill_k(cross_k.size(), NAN), refill_v(cross_v.size(), NAN);
  std::vector<int32_t> none(batch, 0);
  btk_decoder_step fill = step;
  fill.new_len = 0, fill.new_lengths = none.data(), fill.input_ids = nullptr, fill.logits_rows = BTK_LOGITS_LAST;
  fill.logits = last.data(), fill.cross_key_cache = refill_k.data(), fill.cross_value_cache = refill_v.data();
  CHECK(btk_transformer_decoder_stack(&desc.model, &fill) == BTK_OK, "%s N = 0 fill", c.name);
  bool same = true;
  for (size_t i = 0; i < refill_k.size(); ++i)
    if (mask[(i / c.d / s_len / c.kv_heads) % batch * s_len + (i / c.d) % s_len])
      same = same && refill_k[i] == cross_k[i] && refill_v[i] == cross_v[i];
  CHECK(same, "%s N = 0 fills the same caches", c.name);
  for (float value : last) CHECK(value == 0.0f, "%s N = 0: zero logits", c.name);
}

// ---- beam search's reorder ---------------------------------------------------------------

void check_reorder(int64_t layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t d,
                   const std::vector<int32_t>& sources) {
  const int64_t total = layers * batch * kv_heads * capacity * d;
  const std::vector<float> k0 = test::random_floats(total), v0 = test::random_floats(total);
  std::vector<int32_t> lengths0(batch);
  for (auto& n : lengths0) n = test::random_int(0, (int)capacity);
  std::vector<float> k = k0, v = v0;
  std::vector<int32_t> lengths = lengths0;
  CHECK(btk_reorder_cache(k.data(), v.data(), lengths.data(), sources.data(), layers, batch, kv_heads, capacity, d) ==
            BTK_OK,
        "reorder status");
  bool ok = true;
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t r = sources[b];
    ok = ok && lengths[b] == lengths0[r];
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t g = 0; g < kv_heads; ++g) {
        const int64_t dst = ((l * batch + b) * kv_heads + g) * capacity * d, src = ((l * batch + r) * kv_heads + g) * capacity * d;
        // Used positions move; a row that keeps its place is not touched at all.
        const int64_t count = r == b ? capacity * d : lengths0[r] * d;
        for (int64_t i = 0; i < count; ++i) ok = ok && k[dst + i] == k0[src + i] && v[dst + i] == v0[src + i];
      }
  }
  CHECK(ok, "reorder L=%ld B=%ld Hkv=%ld C=%ld D=%ld", (long)layers, (long)batch, (long)kv_heads, (long)capacity, (long)d);
}

void check_reorder_refusals() {
  std::vector<float> k(2 * 3 * 4), v(k.size());
  std::vector<int32_t> lengths = {1, 2}, bad_row = {0, 2}, negative = {-1, 0}, fine = {1, 1}, too_long = {1, 4};
  CHECK(btk_reorder_cache(k.data(), v.data(), lengths.data(), bad_row.data(), 1, 2, 1, 3, 4) == BTK_INVALID_ARGUMENT,
        "source row past the batch");
  CHECK(btk_reorder_cache(k.data(), v.data(), lengths.data(), negative.data(), 1, 2, 1, 3, 4) == BTK_INVALID_ARGUMENT,
        "negative source row");
  CHECK(btk_reorder_cache(k.data(), v.data(), too_long.data(), fine.data(), 1, 2, 1, 3, 4) == BTK_INVALID_ARGUMENT,
        "length past the capacity");
  CHECK(btk_reorder_cache(nullptr, v.data(), lengths.data(), fine.data(), 1, 2, 1, 3, 4) == BTK_INVALID_ARGUMENT,
        "missing cache");
  CHECK(lengths[0] == 1 && lengths[1] == 2, "lengths untouched on refusal");
  CHECK(btk_reorder_cache(nullptr, nullptr, nullptr, nullptr, 2, 0, 2, 3, 4) == BTK_OK, "B = 0");
}

}  // namespace

int main() {
  test::check_requested_isa();
  const Config configs[] = {
      // name, layers, vocab, e, H, Hkv, D, ffn, S, norm, pre, gated, biases, final, position bias, mask, activation,
      // embedding norm
      {"t5", 2, 37, 32, 4, 4, 8, 48, 9, BTK_NORM_RMS, true, true, false, true, true, true, BTK_ACTIVATION_GELU_TANH, false},
      {"bart-post-norm", 2, 41, 24, 3, 3, 8, 40, 7, BTK_NORM_LAYER, false, false, true, false, false, true,
       BTK_ACTIVATION_GELU_ERF, true},
      {"whisper", 1, 29, 32, 4, 4, 8, 64, 70, BTK_NORM_LAYER, true, false, true, true, false, false,
       BTK_ACTIVATION_GELU_ERF, false},
      {"gqa-odd", 2, 23, 20, 6, 2, 5, 33, 11, BTK_NORM_RMS, true, true, true, true, true, true, BTK_ACTIVATION_SILU, true},
      {"gqa-post-one-kv", 1, 19, 18, 3, 1, 6, 27, 5, BTK_NORM_LAYER, false, false, true, true, true, true,
       BTK_ACTIVATION_RELU, false},
  };
  for (const Config& c : configs) {
    check_seq2seq(c, false);
    check_seq2seq(c, true);
  }
  check_reorder(2, 4, 2, 7, 5, {1, 1, 0, 3});   // a swap-with-repeat: row 0 is overwritten and read
  check_reorder(3, 5, 1, 9, 8, {4, 3, 2, 1, 0});
  check_reorder(1, 6, 3, 5, 16, {0, 0, 0, 5, 5, 2});
  check_reorder(2, 3, 2, 4, 3, {0, 1, 2});
  check_reorder(1, 1, 1, 1, 1, {0});
  check_reorder_refusals();
  return test::finish("test_seq2seq");
}
