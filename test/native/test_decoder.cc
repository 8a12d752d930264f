// The decoder's building blocks and the whole decoder step against naive
// double-precision references: products on weights read in place, transposed
// and in bfloat16; RMSNorm; rotary embeddings (both pairings); attention over a
// key/value cache appended step by step (per-sequence lengths, GQA); and
// btk_transformer_decoder_stack for GPT-2-, OPT-, GPT-J- and Llama-style
// layers, prefill then decoding, against recomputing the whole sequence.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "../../kernels/core/kernel_table.h"
#include "../../kernels/core/packed_weight.h"
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

std::vector<float> rounded(const std::vector<float>& x) {
  std::vector<float> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = bf16_round(x[i]);
  return y;
}

// bfloat16 products also round the activations where the CPU's dot products take bf16 pairs.
bool rounds_activations() { return std::strcmp(btk_isa_name(), "avx512_bf16") == 0; }

// ---- products on WeightViews ----------------------------------------------------------------

void check_view_gemm(int64_t m, int64_t k, int64_t n, bool transposed, bool bf16, bool epilogues) {
  const btk::KernelTable& kernels = btk::active_kernels();
  const int64_t pad = 3, lda = k + 1, ldc = n + 2;
  std::vector<float> a = test::random_floats(m * lda), bias = test::random_floats(n),
                     residual = test::random_floats(m * n);
  // w as [k][n] for the reference; stored as given ([k][n + pad] or transposed [n][k + pad]).
  std::vector<float> w = test::random_floats(k * n);
  std::vector<float> stored;
  if (transposed) {
    stored.assign(n * (k + pad), 77.0f);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) stored[j * (k + pad) + p] = w[p * n + j];
  } else {
    stored.assign(k * (n + pad), 77.0f);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) stored[p * (n + pad) + j] = w[p * n + j];
  }
  btk::WeightView view{};
  view.k = k;
  view.n = n;
  btk_packed_weight* packed = nullptr;
  if (bf16) {
    // btk_pack_weight_bf16 reads a dense weight: [k][n] or, transposed, [n][k].
    std::vector<float> dense(k * n);
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) (transposed ? dense[j * k + p] : dense[p * n + j]) = w[p * n + j];
    packed = btk_pack_weight_bf16(dense.data(), k, n, transposed);
    CHECK(packed != nullptr && btk_packed_weight_format(packed) == BTK_WEIGHT_BF16, "bf16 pack %ldx%ld", (long)k, (long)n);
    if (!packed) return;
    view.kind = btk::WeightView::prepacked;
    view.packed = &packed->weight;
    w = rounded(w);
    if (rounds_activations()) a = rounded(a);
  } else {
    view.kind = transposed ? btk::WeightView::f32_nk : btk::WeightView::f32_kn;
    view.data = stored.data();
    view.ld = transposed ? k + pad : n + pad;
  }
  const btk::GemmEpilogue epilogue{epilogues ? bias.data() : nullptr,
                                   epilogues ? BTK_ACTIVATION_SILU : BTK_ACTIVATION_NONE,
                                   epilogues ? residual.data() : nullptr, n};
  std::vector<float> c(m * ldc, 12345.0f);
  CHECK(kernels.gemm_view(m, a.data(), lda, view, c.data(), ldc, epilogue), "gemm_view");
  const auto want = reference::gemm(m, n, k, a.data(), lda, w.data(), epilogue.bias, epilogue.activation,
                                    epilogue.residual, n);
  std::vector<float> got(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) got[i * n + j] = c[i * ldc + j];
  size_t where = 0;
  const double error = test::worst_error(got.data(), want.data(), got.size(), 2e-5 * std::sqrt((double)k + 1), 1e-5, &where);
  CHECK(error <= 1.0, "m=%ld k=%ld n=%ld transposed=%d bf16=%d: error ratio %g at %zu (got %g want %g)", (long)m,
        (long)k, (long)n, transposed, bf16, error, where, got.empty() ? 0.0 : got[where], want.empty() ? 0.0 : want[where]);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = n; j < ldc; ++j) CHECK(c[i * ldc + j] == 12345.0f, "wrote past row end");
  if (bf16 && !transposed) {
    // The public GEMM takes the same bf16 handle.
    std::vector<float> c2(m * n);
    CHECK(btk_gemm(m, a.data(), lda, packed, c2.data(), n, epilogue.bias, epilogue.activation, epilogue.residual, n) ==
              BTK_OK,
          "btk_gemm bf16");
    CHECK(test::worst_error(c2.data(), want.data(), c2.size(), 2e-5 * std::sqrt((double)k + 1), 1e-5) <= 1.0,
          "btk_gemm bf16 values");
  }
  btk_free_packed_weight(packed);
}

// ---- RMSNorm and rotary -------------------------------------------------------------------

void check_rms_norm(int64_t rows, int64_t cols) {
  const std::vector<float> x = test::random_floats(rows * cols, -3.0f, 3.0f), gamma = test::random_floats(cols);
  std::vector<float> y(rows * cols);
  CHECK(btk_rms_norm(rows, cols, x.data(), gamma.data(), 1e-6f, y.data()) == BTK_OK, "rms status");
  std::vector<double> want(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    double squares = 0.0;
    for (int64_t c = 0; c < cols; ++c) squares += (double)x[r * cols + c] * x[r * cols + c];
    const double inv = 1.0 / std::sqrt(squares / cols + 1e-6);
    for (int64_t c = 0; c < cols; ++c) want[r * cols + c] = x[r * cols + c] * inv * gamma[c];
  }
  CHECK(test::worst_error(y.data(), want.data(), y.size(), 1e-6, 2e-6) <= 1.0, "rms %ldx%ld", (long)rows, (long)cols);
  std::vector<float> in_place = x;
  btk_rms_norm(rows, cols, in_place.data(), gamma.data(), 1e-6f, in_place.data());
  CHECK(in_place == y, "rms in place");
}

void rotate_reference(std::vector<double>& head, int64_t position, const btk_rotary& r) {
  const int64_t half = r.rotary_dim / 2;
  std::vector<double> out(head);
  for (int64_t i = 0; i < half; ++i) {
    const int64_t ia = r.interleaved ? 2 * i : i, ib = r.interleaved ? 2 * i + 1 : i + half;
    const double c = r.cos[position * half + i], s = r.sin[position * half + i];
    out[ia] = head[ia] * c - head[ib] * s;
    out[ib] = head[ib] * c + head[ia] * s;
  }
  head = out;
}

void check_rotary(int64_t batch, int64_t heads, int64_t seq, int64_t d, int64_t rotary_dim, bool interleaved) {
  const int64_t rows = 40;
  std::vector<float> cos(rows * (rotary_dim / 2)), sin(cos.size());
  for (int64_t p = 0; p < rows; ++p)
    for (int64_t i = 0; i < rotary_dim / 2; ++i) {
      const double angle = p * std::pow(10000.0, -2.0 * i / rotary_dim);
      cos[p * (rotary_dim / 2) + i] = (float)std::cos(angle);
      sin[p * (rotary_dim / 2) + i] = (float)std::sin(angle);
    }
  const btk_rotary rotary{rotary_dim, interleaved, cos.data(), sin.data(), rows};
  const std::vector<float> x = test::random_floats(batch * heads * seq * d);
  std::vector<int32_t> positions(batch * seq);
  for (auto& p : positions) p = test::random_int(0, rows - 1);
  std::vector<float> y(x.size());
  CHECK(btk_rotary_embedding(&rotary, batch, heads, seq, d, x.data(), positions.data(), y.data()) == BTK_OK, "rotary");
  std::vector<double> want(x.size());
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t s = 0; s < seq; ++s) {
        const int64_t base = ((b * heads + h) * seq + s) * d;
        std::vector<double> head(x.begin() + base, x.begin() + base + d);
        rotate_reference(head, positions[b * seq + s], rotary);
        std::copy(head.begin(), head.end(), want.begin() + base);
      }
  CHECK(test::worst_error(y.data(), want.data(), y.size(), 1e-6, 1e-6) <= 1.0, "rotary d=%ld r=%ld interleaved=%d",
        (long)d, (long)rotary_dim, interleaved);
  positions[0] = rows;
  CHECK(btk_rotary_embedding(&rotary, batch, heads, seq, d, x.data(), positions.data(), y.data()) == BTK_INVALID_ARGUMENT,
        "position past the table");
}

// ---- attention over a growing cache -------------------------------------------------------

void check_kv_cache(int64_t batch, int64_t heads, int64_t kv_heads, int64_t d, int64_t dv, int64_t capacity,
                    const std::vector<int64_t>& step_sizes) {
  std::vector<float> key_cache(batch * kv_heads * capacity * d, NAN), value_cache(batch * kv_heads * capacity * dv, NAN);
  std::vector<int32_t> past(batch, 0);
  std::vector<std::vector<std::vector<float>>> keys(batch, std::vector<std::vector<float>>(kv_heads)),
      values(batch, std::vector<std::vector<float>>(kv_heads));
  const float scale = 1.0f / std::sqrt((float)d);
  for (int64_t n : step_sizes) {
    std::vector<int32_t> fresh(batch);
    for (int64_t b = 0; b < batch; ++b) fresh[b] = static_cast<int32_t>(b % 3 == 2 ? n / 2 : n);  // ragged batches
    const std::vector<float> q = test::random_floats(batch * heads * n * d), k = test::random_floats(batch * kv_heads * n * d),
                             v = test::random_floats(batch * kv_heads * n * dv);
    std::vector<float> out(batch * heads * n * dv, 99.0f);
    std::vector<int32_t> lengths(batch, -1);
    const btk_kv_cache_problem p{batch, heads, kv_heads, n, capacity, d, dv, scale, past.data(), fresh.data()};
    CHECK(btk_attention_with_kv_cache(&p, q.data(), k.data(), v.data(), key_cache.data(), value_cache.data(), out.data(),
                                      lengths.data()) == BTK_OK,
          "kv status");
    std::vector<double> want(out.size(), 0.0);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t g = 0; g < kv_heads; ++g)
        for (int64_t i = 0; i < fresh[b]; ++i) {
          keys[b][g].insert(keys[b][g].end(), k.begin() + ((b * kv_heads + g) * n + i) * d,
                            k.begin() + ((b * kv_heads + g) * n + i + 1) * d);
          values[b][g].insert(values[b][g].end(), v.begin() + ((b * kv_heads + g) * n + i) * dv,
                              v.begin() + ((b * kv_heads + g) * n + i + 1) * dv);
        }
      const int64_t total = past[b] + fresh[b];
      for (int64_t h = 0; h < heads; ++h) {
        const int64_t g = h / (heads / kv_heads);
        for (int64_t i = 0; i < fresh[b]; ++i) {
          const float* q_row = q.data() + ((b * heads + h) * n + i) * d;
          const int64_t visible = past[b] + i + 1;
          std::vector<double> s(visible);
          double max = -INFINITY;
          for (int64_t j = 0; j < visible; ++j) {
            double dot = 0.0;
            for (int64_t c = 0; c < d; ++c) dot += (double)q_row[c] * keys[b][g][j * d + c];
            s[j] = scale * dot;
            max = std::max(max, s[j]);
          }
          double sum = 0.0;
          for (auto& x : s) sum += (x = std::exp(x - max));
          for (int64_t c = 0; c < dv; ++c) {
            double o = 0.0;
            for (int64_t j = 0; j < visible; ++j) o += s[j] / sum * values[b][g][j * dv + c];
            want[((b * heads + h) * n + i) * dv + c] = o;
          }
        }
      }
      CHECK(lengths[b] == total, "lengths[%ld] = %d, want %ld", (long)b, lengths[b], (long)total);
      past[b] = static_cast<int32_t>(total);
    }
    size_t where = 0;
    const double error = test::worst_error(out.data(), want.data(), out.size(), 1e-5, 1e-5, &where);
    CHECK(error <= 1.0, "kv cache B=%ld H=%ld Hkv=%ld D=%ld n=%ld: error %g at %zu", (long)batch, (long)heads,
          (long)kv_heads, (long)d, (long)n, error, where);
  }
  // Overflowing the capacity is refused before anything is written.
  std::vector<int32_t> fresh(batch, 1), lengths(batch);
  std::vector<int32_t> full(batch, static_cast<int32_t>(capacity));
  const std::vector<float> q = test::random_floats(batch * heads * d), k = test::random_floats(batch * kv_heads * d),
                           v = test::random_floats(batch * kv_heads * dv);
  std::vector<float> out(batch * heads * dv);
  const std::vector<float> before = key_cache;
  const btk_kv_cache_problem p{batch, heads, kv_heads, 1, capacity, d, dv, 1.0f, full.data(), fresh.data()};
  CHECK(btk_attention_with_kv_cache(&p, q.data(), k.data(), v.data(), key_cache.data(), value_cache.data(), out.data(),
                                    lengths.data()) == BTK_INVALID_ARGUMENT,
        "capacity overflow refused");
  CHECK(std::memcmp(before.data(), key_cache.data(), sizeof(float) * before.size()) == 0, "cache untouched on refusal");
}

// ---- the decoder step ---------------------------------------------------------------------

struct Config {
  const char* name;
  int64_t layers, vocab, e, heads, kv_heads, d, ffn;
  btk_norm_kind norm;
  bool norm_first, parallel, shared_norm, gated, packed_qkv, learned_positions, tied_head, biases, final_norm;
  btk_activation activation;
  int64_t rotary_dim;
  bool interleaved;
  int64_t position_offset;
};

struct Layer {
  std::vector<float> n1g, n1b, n2g, n2b, wqkv, bqkv, wq, bq, wk, bk, wv, bv, wo, bo, wg, bg, wu, bu, wd, bd;
};

struct Model {
  Config c;
  std::vector<float> word, position, cos, sin, fng, fnb, head, head_bias;
  std::vector<Layer> layers;
  int64_t rotary_rows = 64, position_rows = 64;
};

Model make_model(const Config& c) {
  Model m;
  m.c = c;
  const int64_t q_width = c.heads * c.d, kv_width = c.kv_heads * c.d;
  auto weights = [](int64_t n, float scale) {
    std::vector<float> w = test::random_floats(n);
    for (auto& x : w) x *= scale;
    return w;
  };
  auto maybe = [&](int64_t n) { return c.biases ? weights(n, 0.1f) : std::vector<float>(); };
  auto gamma = [&](int64_t n) {
    std::vector<float> g = test::random_floats(n, 0.8f, 1.2f);
    return g;
  };
  m.word = weights(c.vocab * c.e, 0.5f);
  if (c.learned_positions) m.position = weights(m.position_rows * c.e, 0.5f);
  if (c.rotary_dim > 0) {
    const int64_t half = c.rotary_dim / 2;
    m.cos.resize(m.rotary_rows * half);
    m.sin.resize(m.rotary_rows * half);
    for (int64_t p = 0; p < m.rotary_rows; ++p)
      for (int64_t i = 0; i < half; ++i) {
        const double angle = p * std::pow(10000.0, -2.0 * i / c.rotary_dim);
        m.cos[p * half + i] = (float)std::cos(angle);
        m.sin[p * half + i] = (float)std::sin(angle);
      }
  }
  const float scale = 1.0f / std::sqrt((float)c.e);
  for (int64_t l = 0; l < c.layers; ++l) {
    Layer L;
    L.n1g = gamma(c.e);
    if (c.norm == BTK_NORM_LAYER) L.n1b = weights(c.e, 0.1f);
    if (!c.shared_norm) {
      L.n2g = gamma(c.e);
      if (c.norm == BTK_NORM_LAYER) L.n2b = weights(c.e, 0.1f);
    }
    if (c.packed_qkv) {
      L.wqkv = weights(c.e * (q_width + 2 * kv_width), scale);
      L.bqkv = maybe(q_width + 2 * kv_width);
    } else {
      L.wq = weights(c.e * q_width, scale);
      L.wk = weights(c.e * kv_width, scale);
      L.wv = weights(c.e * kv_width, scale);
      L.bq = maybe(q_width);
      L.bk = maybe(kv_width);
      L.bv = maybe(kv_width);
    }
    L.wo = weights(q_width * c.e, scale);
    L.bo = maybe(c.e);
    if (c.gated) {
      L.wg = weights(c.e * c.ffn, scale);
      L.bg = maybe(c.ffn);
    }
    L.wu = weights(c.e * c.ffn, scale);
    L.bu = maybe(c.ffn);
    L.wd = weights(c.ffn * c.e, 1.0f / std::sqrt((float)c.ffn));
    L.bd = maybe(c.e);
    m.layers.push_back(L);
  }
  if (c.final_norm) {
    m.fng = gamma(c.e);
    if (c.norm == BTK_NORM_LAYER) m.fnb = weights(c.e, 0.1f);
  }
  if (!c.tied_head) {
    m.head = weights(c.e * c.vocab, scale);
    if (c.biases) m.head_bias = weights(c.vocab, 0.1f);
  }
  return m;
}

const float* ptr(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }

// The C descriptors of a Model; bf16 keeps the packed copies alive in `handles`.
struct Descriptors {
  btk_decoder model{};
  std::vector<btk_decoder_layer> layers;
  std::vector<btk_packed_weight*> handles;
  ~Descriptors() {
    for (auto* h : handles) btk_free_packed_weight(h);
  }
};

btk_weight weight(Descriptors& out, const std::vector<float>& w, int64_t in, int64_t o, bool transposed, bool bf16) {
  btk_weight result{w.empty() ? nullptr : w.data(), in, o, transposed ? 1 : 0, nullptr};
  if (bf16 && !w.empty()) {
    result.packed = btk_pack_weight_bf16(w.data(), in, o, transposed);
    out.handles.push_back(const_cast<btk_packed_weight*>(result.packed));
  }
  return result;
}

void describe(const Model& m, bool bf16, Descriptors& out) {
  const Config& c = m.c;
  const int64_t q_width = c.heads * c.d, kv_width = c.kv_heads * c.d;
  for (const Layer& L : m.layers) {
    btk_decoder_layer d{};
    d.norm1_gamma = ptr(L.n1g);
    d.norm1_beta = ptr(L.n1b);
    d.norm2_gamma = ptr(L.n2g);
    d.norm2_beta = ptr(L.n2b);
    d.norm1_eps = d.norm2_eps = 1e-5f;
    if (c.packed_qkv) {
      d.w_qkv = weight(out, L.wqkv, c.e, q_width + 2 * kv_width, false, bf16);
      d.b_qkv = ptr(L.bqkv);
    } else {
      d.w_q = weight(out, L.wq, c.e, q_width, false, bf16);
      d.w_k = weight(out, L.wk, c.e, kv_width, false, bf16);
      d.w_v = weight(out, L.wv, c.e, kv_width, false, bf16);
      d.b_q = ptr(L.bq);
      d.b_k = ptr(L.bk);
      d.b_v = ptr(L.bv);
    }
    d.w_o = weight(out, L.wo, q_width, c.e, false, bf16);
    d.b_o = ptr(L.bo);
    if (c.gated) {
      d.w_gate = weight(out, L.wg, c.e, c.ffn, false, bf16);
      d.b_gate = ptr(L.bg);
    }
    d.w_up = weight(out, L.wu, c.e, c.ffn, false, bf16);
    d.b_up = ptr(L.bu);
    d.w_down = weight(out, L.wd, c.ffn, c.e, false, bf16);
    d.b_down = ptr(L.bd);
    out.layers.push_back(d);
  }
  btk_decoder& d = out.model;
  d.num_layers = c.layers;
  d.vocab_size = c.vocab;
  d.embed_dim = c.e;
  d.num_heads = c.heads;
  d.num_kv_heads = c.kv_heads;
  d.head_dim = c.d;
  d.norm_kind = c.norm;
  d.norm_first = c.norm_first;
  d.parallel = c.parallel;
  d.parallel_shared_norm = c.shared_norm;
  d.activation = c.activation;
  d.gated_mlp = c.gated;
  d.attention_scale = 1.0f / std::sqrt((float)c.d);
  d.word_embeddings = m.word.data();
  d.embedding_scale = 1.0f;
  d.position_embeddings = ptr(m.position);
  d.position_rows = m.position_rows;
  d.position_offset = c.position_offset;
  d.rotary = btk_rotary{c.rotary_dim, c.interleaved, ptr(m.cos), ptr(m.sin), m.rotary_rows};
  d.layers = out.layers.data();
  d.has_final_norm = c.final_norm;
  d.final_norm_gamma = ptr(m.fng);
  d.final_norm_beta = ptr(m.fnb);
  d.final_norm_eps = 1e-5f;
  d.lm_head = c.tied_head ? weight(out, m.word, c.e, c.vocab, true, bf16) : weight(out, m.head, c.e, c.vocab, false, bf16);
  d.lm_head_bias = ptr(m.head_bias);
}

// Reference: the whole sequence `ids` through the model, logits of every position [len][vocab].
std::vector<double> reference_logits(const Model& m, const std::vector<int32_t>& ids, bool bf16) {
  const Config& c = m.c;
  const int64_t len = static_cast<int64_t>(ids.size()), e = c.e, q_width = c.heads * c.d, kv_width = c.kv_heads * c.d;
  auto w = [&](const std::vector<float>& x) { return bf16 ? rounded(x) : x; };
  auto matmul = [](const std::vector<double>& a, int64_t rows, int64_t k, const std::vector<float>& b, int64_t n,
                   const std::vector<float>& bias, int64_t col0 = 0, int64_t ldb = -1) {
    if (ldb < 0) ldb = n;
    std::vector<double> out(rows * n);
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = bias.empty() ? 0.0 : bias[col0 + j];
        for (int64_t p = 0; p < k; ++p) s += a[i * k + p] * b[p * ldb + col0 + j];
        out[i * n + j] = s;
      }
    return out;
  };
  auto norm = [&](std::vector<double> x, const std::vector<float>& g, const std::vector<float>& b) {
    for (int64_t r = 0; r < len; ++r) {
      double* row = &x[r * e];
      if (c.norm == BTK_NORM_RMS) {
        double sq = 0.0;
        for (int64_t i = 0; i < e; ++i) sq += row[i] * row[i];
        const double inv = 1.0 / std::sqrt(sq / e + 1e-5);
        for (int64_t i = 0; i < e; ++i) row[i] = row[i] * inv * g[i];
      } else {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < e; ++i) mean += row[i];
        mean /= e;
        for (int64_t i = 0; i < e; ++i) var += (row[i] - mean) * (row[i] - mean);
        var /= e;
        for (int64_t i = 0; i < e; ++i) row[i] = (row[i] - mean) / std::sqrt(var + 1e-5) * g[i] + (b.empty() ? 0.0 : b[i]);
      }
    }
    return x;
  };
  const btk_rotary rotary{c.rotary_dim, c.interleaved, ptr(m.cos), ptr(m.sin), m.rotary_rows};
  std::vector<double> x(len * e);
  for (int64_t t = 0; t < len; ++t)
    for (int64_t i = 0; i < e; ++i)
      x[t * e + i] = m.word[ids[t] * e + i] + (c.learned_positions ? m.position[(t + c.position_offset) * e + i] : 0.0);
  for (const Layer& L : m.layers) {
    const std::vector<double> h = (c.norm_first || c.parallel) ? norm(x, L.n1g, L.n1b) : x;
    std::vector<double> q, k, v;
    if (c.packed_qkv) {
      const int64_t width = q_width + 2 * kv_width;
      const auto wqkv = w(L.wqkv);
      q = matmul(h, len, e, wqkv, q_width, L.bqkv, 0, width);
      k = matmul(h, len, e, wqkv, kv_width, L.bqkv, q_width, width);
      v = matmul(h, len, e, wqkv, kv_width, L.bqkv, q_width + kv_width, width);
    } else {
      q = matmul(h, len, e, w(L.wq), q_width, L.bq);
      k = matmul(h, len, e, w(L.wk), kv_width, L.bk);
      v = matmul(h, len, e, w(L.wv), kv_width, L.bv);
    }
    if (c.rotary_dim > 0)
      for (int64_t t = 0; t < len; ++t) {
        for (int64_t hh = 0; hh < c.heads; ++hh) {
          std::vector<double> head(q.begin() + t * q_width + hh * c.d, q.begin() + t * q_width + (hh + 1) * c.d);
          rotate_reference(head, t, rotary);
          std::copy(head.begin(), head.end(), q.begin() + t * q_width + hh * c.d);
        }
        for (int64_t g = 0; g < c.kv_heads; ++g) {
          std::vector<double> head(k.begin() + t * kv_width + g * c.d, k.begin() + t * kv_width + (g + 1) * c.d);
          rotate_reference(head, t, rotary);
          std::copy(head.begin(), head.end(), k.begin() + t * kv_width + g * c.d);
        }
      }
    std::vector<double> ctx(len * q_width);
    const double scale = 1.0 / std::sqrt((double)c.d);
    for (int64_t hh = 0; hh < c.heads; ++hh) {
      const int64_t g = hh / (c.heads / c.kv_heads);
      for (int64_t i = 0; i < len; ++i) {
        std::vector<double> s(i + 1);
        double max = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0.0;
          for (int64_t dd = 0; dd < c.d; ++dd) dot += q[i * q_width + hh * c.d + dd] * k[j * kv_width + g * c.d + dd];
          s[j] = scale * dot;
          max = std::max(max, s[j]);
        }
        double sum = 0.0;
        for (auto& value : s) sum += (value = std::exp(value - max));
        for (int64_t dd = 0; dd < c.d; ++dd) {
          double o = 0.0;
          for (int64_t j = 0; j <= i; ++j) o += s[j] / sum * v[j * kv_width + g * c.d + dd];
          ctx[i * q_width + hh * c.d + dd] = o;
        }
      }
    }
    std::vector<double> attn = matmul(ctx, len, q_width, w(L.wo), e, L.bo);
    for (int64_t i = 0; i < len * e; ++i) attn[i] += x[i];
    std::vector<double> mlp_in;
    if (c.parallel) mlp_in = c.shared_norm ? h : norm(x, L.n2g, L.n2b);
    else if (c.norm_first) mlp_in = norm(attn, L.n2g, L.n2b);
    else mlp_in = attn = norm(attn, L.n1g, L.n1b);
    std::vector<double> up = matmul(mlp_in, len, e, w(L.wu), c.ffn, L.bu);
    if (c.gated) {
      const std::vector<double> gate = matmul(mlp_in, len, e, w(L.wg), c.ffn, L.bg);
      for (int64_t i = 0; i < len * c.ffn; ++i) up[i] *= reference::activate(gate[i], c.activation);
    } else {
      for (auto& value : up) value = reference::activate(value, c.activation);
    }
    std::vector<double> down = matmul(up, len, c.ffn, w(L.wd), e, L.bd);
    for (int64_t i = 0; i < len * e; ++i) down[i] += attn[i];
    x = (!c.norm_first && !c.parallel) ? norm(down, L.n2g, L.n2b) : down;
  }
  if (c.final_norm) x = norm(x, m.fng, m.fnb);
  std::vector<float> head = c.tied_head ? std::vector<float>(c.e * c.vocab) : w(m.head);
  if (c.tied_head) {
    const auto word = w(m.word);
    for (int64_t v = 0; v < c.vocab; ++v)
      for (int64_t i = 0; i < e; ++i) head[i * c.vocab + v] = word[v * e + i];
  }
  return matmul(x, len, e, head, c.vocab, m.head_bias);
}

void check_decoder(const Config& config, bool bf16) {
  const Model m = make_model(config);
  Descriptors desc;
  describe(m, bf16, desc);
  const int64_t batch = 3, capacity = 20, layers = config.layers;
  const std::vector<int64_t> prompt = {5, 1, 3};
  std::vector<std::vector<int32_t>> seqs(batch);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < prompt[b]; ++i) seqs[b].push_back(test::random_int(0, (int)config.vocab - 1));
  std::vector<float> key_cache(layers * batch * config.kv_heads * capacity * config.d, NAN),
      value_cache(key_cache.size(), NAN);
  std::vector<int32_t> past(batch, 0), lengths(batch);
  // bf16: weights rounded in the reference; activations too on CPUs with bf16 dot products (looser).
  const double atol = bf16 ? (rounds_activations() ? 3e-2 : 2e-3) : 2e-5, rtol = bf16 ? 1e-2 : 2e-5;

  // Prefill: every prompt row's logits.
  const int64_t n0 = 5;
  std::vector<int32_t> ids(batch * n0, -7), fresh(batch);
  for (int64_t b = 0; b < batch; ++b) {
    fresh[b] = static_cast<int32_t>(prompt[b]);
    for (int64_t i = 0; i < prompt[b]; ++i) ids[b * n0 + i] = seqs[b][i];
  }
  std::vector<float> logits(batch * n0 * config.vocab, 5.0f);
  btk_decoder_step step{batch, n0, capacity, ids.data(), past.data(), fresh.data(), key_cache.data(), value_cache.data(),
                        BTK_LOGITS_ALL, logits.data(), lengths.data()};
  CHECK(btk_transformer_decoder_stack(&desc.model, &step) == BTK_OK, "%s prefill status", config.name);
  for (int64_t b = 0; b < batch; ++b) {
    const auto want = reference_logits(m, seqs[b], bf16);
    std::vector<float> got(logits.begin() + b * n0 * config.vocab, logits.begin() + (b * n0 + prompt[b]) * config.vocab);
    size_t where = 0;
    const double error = test::worst_error(got.data(), want.data(), got.size(), atol, rtol, &where);
    CHECK(error <= 1.0, "%s bf16=%d prefill seq %ld: error %g at %zu (got %g want %g)", config.name, bf16, (long)b, error,
          where, got[where], want[where]);
    for (int64_t i = prompt[b] * config.vocab; i < n0 * config.vocab; ++i)
      CHECK(logits[b * n0 * config.vocab + i] == 0.0f, "%s padded logits rows are zero", config.name);
    CHECK(lengths[b] == prompt[b], "%s lengths", config.name);
    past[b] = lengths[b];
  }
  // Decode: 1 token per step (sequence 1 skips a step: new length 0), then 2 at once.
  for (int step_index = 0; step_index < 6; ++step_index) {
    const int64_t n = step_index == 5 ? 2 : 1;
    std::vector<int32_t> step_ids(batch * n);
    for (int64_t b = 0; b < batch; ++b) {
      fresh[b] = (b == 1 && step_index == 2) ? 0 : static_cast<int32_t>(n);
      for (int64_t i = 0; i < n; ++i) step_ids[b * n + i] = test::random_int(0, (int)config.vocab - 1);
    }
    std::vector<float> last(batch * config.vocab, 5.0f);
    btk_decoder_step s{batch, n, capacity, step_ids.data(), past.data(), fresh.data(), key_cache.data(),
                       value_cache.data(), BTK_LOGITS_LAST, last.data(), lengths.data()};
    CHECK(btk_transformer_decoder_stack(&desc.model, &s) == BTK_OK, "%s decode status", config.name);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t i = 0; i < fresh[b]; ++i) seqs[b].push_back(step_ids[b * n + i]);
      if (fresh[b] == 0) {
        for (int64_t v = 0; v < config.vocab; ++v) CHECK(last[b * config.vocab + v] == 0.0f, "no new token: zero logits");
        continue;
      }
      const auto want = reference_logits(m, seqs[b], bf16);
      const int64_t t = static_cast<int64_t>(seqs[b].size()) - 1;
      size_t where = 0;
      const double error = test::worst_error(last.data() + b * config.vocab, want.data() + t * config.vocab, config.vocab,
                                             atol, rtol, &where);
      CHECK(error <= 1.0, "%s bf16=%d decode step %d seq %ld: error %g", config.name, bf16, step_index, (long)b, error);
      past[b] = lengths[b];
      CHECK(lengths[b] == t + 1, "%s decode lengths", config.name);
    }
  }
  // Refusals: capacity, ids and positions are checked before anything is written.
  const std::vector<float> before = key_cache;
  std::vector<int32_t> one(batch, 1), at_capacity(batch, static_cast<int32_t>(capacity)), bad_ids(batch, 0);
  std::vector<float> last(batch * config.vocab);
  btk_decoder_step overflow{batch, 1, capacity, bad_ids.data(), at_capacity.data(), one.data(), key_cache.data(),
                            value_cache.data(), BTK_LOGITS_LAST, last.data(), lengths.data()};
  CHECK(btk_transformer_decoder_stack(&desc.model, &overflow) == BTK_INVALID_ARGUMENT, "%s capacity", config.name);
  bad_ids[1] = static_cast<int32_t>(config.vocab);
  btk_decoder_step out_of_vocab{batch, 1, capacity, bad_ids.data(), past.data(), one.data(), key_cache.data(),
                                value_cache.data(), BTK_LOGITS_LAST, last.data(), lengths.data()};
  CHECK(btk_transformer_decoder_stack(&desc.model, &out_of_vocab) == BTK_INVALID_ARGUMENT, "%s id range", config.name);
  CHECK(std::memcmp(before.data(), key_cache.data(), sizeof(float) * before.size()) == 0, "%s cache untouched",
        config.name);
}

}  // namespace

int main() {
  test::check_requested_isa();
  for (int64_t m : {1, 3, 8, 9, 50, 200})
    for (int64_t k : {1, 7, 64, 300})
      for (int64_t n : {1, 5, 48, 100})
        for (int t = 0; t < 2; ++t) {
          check_view_gemm(m, k, n, t == 1, false, (m + k + n) % 2 == 0);
          check_view_gemm(m, k, n, t == 1, true, (m + k + n) % 2 == 1);
        }
  check_view_gemm(4, 768, 333, false, false, true);
  check_view_gemm(2, 768, 1000, true, true, true);
  for (int64_t cols : {1, 5, 16, 33, 768}) check_rms_norm(7, cols);
  check_rotary(2, 3, 5, 8, 8, false);
  check_rotary(2, 3, 5, 8, 4, true);
  check_rotary(1, 2, 4, 64, 64, false);
  check_rotary(1, 2, 4, 80, 32, true);
  check_kv_cache(3, 4, 2, 8, 8, 40, {5, 1, 1, 3, 1});
  check_kv_cache(2, 6, 6, 64, 64, 200, {70, 1, 20, 1});   // a long prefill takes the tiled kernel
  check_kv_cache(1, 8, 1, 16, 24, 16, {4, 4, 4, 4});
  const Config configs[] = {
      // name, layers, vocab, e, H, Hkv, D, ffn, norm, pre, parallel, shared, gated, packed, learned pos, tied, biases, final, act, rotary, interleaved, offset
      {"gpt2", 2, 37, 32, 4, 4, 8, 64, BTK_NORM_LAYER, true, false, false, false, true, true, true, true, true,
       BTK_ACTIVATION_GELU_TANH, 0, false, 0},
      {"opt", 2, 41, 24, 3, 3, 8, 48, BTK_NORM_LAYER, true, false, false, false, false, true, true, true, true,
       BTK_ACTIVATION_RELU, 0, false, 2},
      {"opt-post-norm", 2, 41, 24, 3, 3, 8, 48, BTK_NORM_LAYER, false, false, false, false, false, true, false, true,
       false, BTK_ACTIVATION_RELU, 0, false, 2},
      {"gptj", 2, 29, 32, 4, 4, 8, 64, BTK_NORM_LAYER, true, true, true, false, false, false, false, true, true,
       BTK_ACTIVATION_GELU_TANH, 4, true, 0},
      {"neox", 1, 29, 32, 2, 2, 16, 64, BTK_NORM_LAYER, true, true, false, false, true, false, false, true, true,
       BTK_ACTIVATION_GELU_ERF, 8, false, 0},
      {"llama", 2, 53, 32, 4, 2, 8, 48, BTK_NORM_RMS, true, false, false, true, false, false, false, false, true,
       BTK_ACTIVATION_SILU, 8, false, 0},
  };
  for (const Config& c : configs) {
    check_decoder(c, false);
    check_decoder(c, true);
  }
  return test::finish("test_decoder");
}
