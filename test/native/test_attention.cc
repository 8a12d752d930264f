// Attention forward and backward against the double-precision reference:
// every mask kind and broadcast, key padding (including fully padded rows),
// causal with Sq != Sk, GQA, sizes that are not multiples of any tile, NaN.
#include "reference.h"
#include "test_support.h"

namespace {

struct Case {
  int64_t B, H, Hkv, Sq, Sk, D, Dv;
  bool causal;
  btk_mask_kind mask_kind;
  int64_t mask_dims[4];  // 1 = broadcast that dimension
  bool key_padding;
  bool backward;
  const char* name;
  int64_t custom_strides[4] = {0, 0, 0, 0};  // used (with a mask sized to fit) when any is nonzero
};

int64_t extent(const btk_sdpa_problem& p) {
  const int64_t sizes[4] = {p.batch, p.heads, p.q_len, p.kv_len};
  int64_t e = 1;
  for (int d = 0; d < 4; ++d) {
    if (sizes[d] == 0) return 0;
    e += (sizes[d] - 1) * p.mask_strides[d];
  }
  return e;
}

void run_case(const Case& c) {
  btk_sdpa_problem p{};
  p.batch = c.B; p.heads = c.H; p.kv_heads = c.Hkv; p.q_len = c.Sq; p.kv_len = c.Sk; p.head_dim = c.D;
  p.value_dim = c.Dv; p.scale = c.D > 0 ? 1.0f / std::sqrt((float)c.D) : 1.0f; p.causal = c.causal;
  p.mask_kind = c.mask_kind;
  const int64_t full[4] = {c.B, c.H, c.Sq, c.Sk};
  int64_t mask_size = 1;
  std::vector<uint8_t> bool_mask;
  std::vector<float> float_mask;
  const bool custom = c.custom_strides[0] || c.custom_strides[1] || c.custom_strides[2] || c.custom_strides[3];
  if (c.mask_kind != BTK_MASK_NONE && custom) {
    mask_size = 1;
    for (int d = 0; d < 4; ++d) {
      p.mask_strides[d] = c.custom_strides[d];
      mask_size += (full[d] - 1) * c.custom_strides[d];
    }
  } else if (c.mask_kind != BTK_MASK_NONE) {
    // Contiguous storage of the un-broadcast dims, stride 0 on broadcast ones.
    for (int d = 3; d >= 0; --d) {
      const int64_t size = c.mask_dims[d] == 1 ? 1 : full[d];
      p.mask_strides[d] = size == 1 ? 0 : mask_size;
      mask_size *= size;
    }
  }
  if (c.mask_kind != BTK_MASK_NONE) {
    if (c.mask_kind == BTK_MASK_BOOL) {
      bool_mask.resize(mask_size);
      for (auto& m : bool_mask) m = test::random_int(0, 3) != 0;
      p.mask = bool_mask.data();
    } else {
      float_mask = test::random_floats(mask_size, -2.0f, 2.0f);
      for (auto& m : float_mask)
        if (test::random_int(0, 5) == 0) m = -INFINITY;
      p.mask = float_mask.data();
    }
  }
  std::vector<uint8_t> padding;
  if (c.key_padding) {
    padding.assign(c.B * c.Sk, 1);
    for (int64_t b = 0; b < c.B; ++b) {
      const int64_t real = b == 0 ? c.Sk : (b == 1 ? 0 : test::random_int(0, (int)c.Sk));  // full, empty, random
      for (int64_t j = real; j < c.Sk; ++j) padding[b * c.Sk + j] = 0;
    }
    p.key_padding = padding.data();
  }
  const auto q = test::random_floats(c.B * c.H * c.Sq * c.D), k = test::random_floats(c.B * c.Hkv * c.Sk * c.D),
             v = test::random_floats(c.B * c.Hkv * c.Sk * c.Dv), d_out = test::random_floats(c.B * c.H * c.Sq * c.Dv);
  std::vector<float> out(c.B * c.H * c.Sq * c.Dv, 777.0f), lse(c.B * c.H * c.Sq, 777.0f);
  CHECK(btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), out.data(), lse.data()) == BTK_OK,
        "%s: forward status", c.name);
  const int64_t mask_extent = c.mask_kind == BTK_MASK_FLOAT ? extent(p) : 0;
  const auto want = reference::sdpa(p, q.data(), k.data(), v.data(), c.backward ? d_out.data() : nullptr, mask_extent);
  size_t at = 0;
  double e = test::worst_error(out.data(), want.out.data(), out.size(), 2e-5, 1e-4, &at);
  CHECK(e <= 1.0, "%s: out error ratio %g at %zu (got %g want %g)", c.name, e, at, out[at], want.out[at]);
  e = test::worst_error(lse.data(), want.lse.data(), lse.size(), 2e-5, 1e-5, &at);
  CHECK(e <= 1.0, "%s: lse error ratio %g at %zu (got %g want %g)", c.name, e, at, lse[at], want.lse[at]);
  if (!c.backward) return;
  std::vector<float> d_q(q.size(), 777.0f), d_k(k.size(), 777.0f), d_v(v.size(), 777.0f), d_mask(mask_extent, 777.0f);
  CHECK(btk_scaled_dot_product_attention_grad(&p, q.data(), k.data(), v.data(), out.data(), lse.data(), d_out.data(),
                                              d_q.data(), d_k.data(), d_v.data(),
                                              mask_extent ? d_mask.data() : nullptr) == BTK_OK,
        "%s: backward status", c.name);
  const double atol = 1e-4 * std::sqrt((double)c.Sq * c.H / c.Hkv + c.Sk), rtol = 1e-3;
  e = test::worst_error(d_q.data(), want.d_q.data(), d_q.size(), atol, rtol, &at);
  CHECK(e <= 1.0, "%s: dq error ratio %g at %zu (got %g want %g)", c.name, e, at, d_q[at], want.d_q[at]);
  e = test::worst_error(d_k.data(), want.d_k.data(), d_k.size(), atol, rtol, &at);
  CHECK(e <= 1.0, "%s: dk error ratio %g at %zu (got %g want %g)", c.name, e, at, d_k[at], want.d_k[at]);
  e = test::worst_error(d_v.data(), want.d_v.data(), d_v.size(), atol, rtol, &at);
  CHECK(e <= 1.0, "%s: dv error ratio %g at %zu (got %g want %g)", c.name, e, at, d_v[at], want.d_v[at]);
  if (mask_extent) {
    e = test::worst_error(d_mask.data(), want.d_mask.data(), d_mask.size(), atol * 4, rtol, &at);
    CHECK(e <= 1.0, "%s: dmask error ratio %g at %zu (got %g want %g)", c.name, e, at, d_mask[at], want.d_mask[at]);
  }
}

void nan_propagates() {
  btk_sdpa_problem p{};
  p.batch = 1; p.heads = 1; p.kv_heads = 1; p.q_len = 2; p.kv_len = 3; p.head_dim = 4; p.value_dim = 4; p.scale = 0.5f;
  auto q = test::random_floats(8), k = test::random_floats(12), v = test::random_floats(12);
  q[0] = NAN;  // query row 0 only
  std::vector<float> out(8), lse(2);
  btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), out.data(), lse.data());
  CHECK(std::isnan(out[0]) && std::isnan(lse[0]), "NaN query row must be NaN");
  CHECK(!std::isnan(out[4]) && !std::isnan(lse[1]), "other rows must stay finite");
}

// Keys removed by the key padding mask are never read: NaN and infinities in
// their k and v change nothing in the output or in any gradient. Key 70 sits
// in the partly padded second tile, key 20 in the first (unpadded) tile of the
// second sequence, whose keys from 60 on are padding.
void padded_keys_are_never_read() {
  btk_sdpa_problem p{};
  p.batch = 2; p.heads = 2; p.kv_heads = 1; p.q_len = 5; p.kv_len = 90; p.head_dim = 8; p.value_dim = 8; p.scale = 0.35f;
  std::vector<uint8_t> valid(2 * 90, 1);
  for (int64_t j = 60; j < 90; ++j) valid[90 + j] = 0;
  valid[20] = 0;  // an isolated padded key in the first sequence
  p.key_padding = valid.data();
  const size_t nq = 2 * 2 * 5 * 8, nkv = 2 * 90 * 8;
  auto q = test::random_floats(nq), k = test::random_floats(nkv), v = test::random_floats(nkv), d_out = test::random_floats(nq);
  auto dirty_k = k, dirty_v = v;
  for (int64_t c = 0; c < 8; ++c) {
    dirty_k[(90 + 70) * 8 + c] = NAN;
    dirty_v[(90 + 70) * 8 + c] = c % 2 ? INFINITY : NAN;
    dirty_k[20 * 8 + c] = INFINITY;
    dirty_v[20 * 8 + c] = NAN;
  }
  auto run = [&](const std::vector<float>& kk, const std::vector<float>& vv, std::vector<float>* out,
                 std::vector<float>* grads) {
    std::vector<float> lse(2 * 2 * 5), d_q(nq), d_k(nkv), d_v(nkv);
    out->assign(nq, 0.0f);
    CHECK(btk_scaled_dot_product_attention(&p, q.data(), kk.data(), vv.data(), out->data(), lse.data()) == BTK_OK, "forward");
    CHECK(btk_scaled_dot_product_attention_grad(&p, q.data(), kk.data(), vv.data(), out->data(), lse.data(), d_out.data(),
                                                d_q.data(), d_k.data(), d_v.data(), nullptr) == BTK_OK, "backward");
    grads->clear();
    grads->insert(grads->end(), d_q.begin(), d_q.end());
    for (size_t i = 0; i < nkv; ++i) {  // the padded keys' own gradients are zero either way
      const bool padded = !valid[i / 8];
      grads->push_back(padded ? 0.0f : d_k[i]);
      grads->push_back(padded ? 0.0f : d_v[i]);
      if (padded) CHECK(d_k[i] == 0.0f && d_v[i] == 0.0f, "padded key %zu gets a gradient", i / 8);
    }
  };
  std::vector<float> clean_out, clean_grads, dirty_out, dirty_grads;
  run(k, v, &clean_out, &clean_grads);
  run(dirty_k, dirty_v, &dirty_out, &dirty_grads);
  for (size_t i = 0; i < nq; ++i) CHECK(dirty_out[i] == clean_out[i], "out[%zu]: %g vs %g", i, dirty_out[i], clean_out[i]);
  for (size_t i = 0; i < clean_grads.size(); ++i)
    CHECK(dirty_grads[i] == clean_grads[i], "gradient %zu: %g vs %g", i, dirty_grads[i], clean_grads[i]);
}

// The C ABI's own checks (the shared attention dims and mask extent): a bad problem is
// refused before any memory is touched.
void rejects_invalid_problems() {
  btk_sdpa_problem valid{};
  valid.batch = 1; valid.heads = 4; valid.kv_heads = 2; valid.q_len = 3; valid.kv_len = 5; valid.head_dim = 4;
  valid.value_dim = 4; valid.scale = 0.5f;
  auto q = test::random_floats(48), k = test::random_floats(40), v = test::random_floats(40);
  std::vector<float> out(48), lse(12), mask(15), d_q(48), d_k(40), d_v(40), d_mask(15);
  auto forward = [&](const btk_sdpa_problem& p) {
    return btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), out.data(), lse.data());
  };
  CHECK(forward(valid) == BTK_OK, "the valid problem");
  CHECK(btk_scaled_dot_product_attention(nullptr, q.data(), k.data(), v.data(), out.data(), lse.data()) ==
            BTK_INVALID_ARGUMENT, "null problem");
  btk_sdpa_problem p = valid;
  p.kv_heads = 3;
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "Hkv not dividing H");
  p = valid;
  p.kv_len = -1;
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "negative Sk");
  p = valid;
  p.mask_kind = BTK_MASK_FLOAT;
  p.mask_strides[2] = 5; p.mask_strides[3] = 1;
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "float mask kind without a mask");
  p.mask = mask.data();
  CHECK(forward(p) == BTK_OK, "float mask [Sq, Sk]");
  p.mask_strides[3] = -1;
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "negative mask stride");
  p.mask_strides[3] = INT64_C(1) << 62;  // (Sk - 1) * 2^62 overflows int64
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "mask strides past int64");
  p = valid;
  p.mask_kind = static_cast<btk_mask_kind>(3);  // within the enum's range (no UB), not a kind
  p.mask = mask.data();
  CHECK(forward(p) == BTK_INVALID_ARGUMENT, "unknown mask kind");
  p = valid;
  p.mask_kind = BTK_MASK_BOOL;
  p.mask = mask.data();
  CHECK(btk_scaled_dot_product_attention_grad(&p, q.data(), k.data(), v.data(), out.data(), lse.data(), out.data(),
                                              d_q.data(), d_k.data(), d_v.data(), d_mask.data()) == BTK_INVALID_ARGUMENT,
        "d_mask with a bool mask");
}

}  // namespace

int main() {
  test::check_requested_isa();
  padded_keys_are_never_read();
  const Case cases[] = {
      {1, 1, 1, 1, 1, 1, 1, false, BTK_MASK_NONE, {}, false, true, "tiny"},
      {2, 4, 4, 37, 37, 16, 16, false, BTK_MASK_NONE, {}, false, true, "plain"},
      {1, 2, 2, 70, 130, 64, 64, false, BTK_MASK_NONE, {}, false, true, "two key tiles, D=64"},
      {2, 6, 2, 33, 65, 20, 12, false, BTK_MASK_NONE, {}, false, true, "GQA, odd D/Dv"},
      {2, 3, 3, 40, 70, 24, 24, true, BTK_MASK_NONE, {}, false, true, "causal Sq<Sk"},
      {1, 2, 1, 90, 30, 8, 40, true, BTK_MASK_NONE, {}, false, true, "causal Sq>Sk (dead rows)"},
      {2, 2, 2, 65, 65, 16, 16, true, BTK_MASK_NONE, {}, false, true, "causal square"},
      {3, 2, 2, 20, 75, 16, 8, false, BTK_MASK_NONE, {}, true, true, "key padding incl. empty batch"},
      {3, 2, 1, 66, 70, 16, 16, true, BTK_MASK_NONE, {}, true, true, "causal + key padding + GQA"},
      {2, 3, 3, 17, 23, 8, 8, false, BTK_MASK_BOOL, {0, 0, 0, 0}, false, true, "bool mask full"},
      {2, 3, 3, 17, 23, 8, 8, false, BTK_MASK_BOOL, {1, 1, 0, 0}, true, true, "bool mask [1,1,Sq,Sk] + padding"},
      {2, 3, 3, 17, 70, 8, 8, true, BTK_MASK_BOOL, {0, 1, 1, 0}, false, true, "bool mask [B,1,1,Sk] causal"},
      {2, 3, 3, 17, 23, 8, 8, false, BTK_MASK_FLOAT, {0, 0, 0, 0}, false, true, "float mask full"},
      {2, 4, 2, 30, 80, 16, 16, false, BTK_MASK_FLOAT, {1, 1, 0, 0}, false, true, "float mask [1,1,Sq,Sk] GQA"},
      {3, 2, 2, 19, 66, 12, 12, true, BTK_MASK_FLOAT, {0, 1, 1, 0}, true, true, "float mask [B,1,1,Sk] causal pad"},
      {2, 2, 2, 9, 9, 4, 4, false, BTK_MASK_FLOAT, {1, 0, 1, 1}, false, true, "float mask [1,H,1,1]"},
      {2, 2, 2, 0, 5, 4, 4, false, BTK_MASK_NONE, {}, false, true, "Sq=0"},
      {2, 2, 2, 5, 0, 4, 4, false, BTK_MASK_NONE, {}, false, true, "Sk=0"},
      {0, 2, 2, 5, 5, 4, 4, false, BTK_MASK_NONE, {}, false, true, "B=0"},
      {1, 2, 2, 5, 5, 4, 0, false, BTK_MASK_NONE, {}, false, true, "Dv=0"},
      {1, 12, 12, 200, 200, 64, 64, false, BTK_MASK_NONE, {}, true, false, "larger forward"},
      // Strides that are not a plain broadcast: a transposed [B,H,Sk,Sq] mask, and a
      // relative-position (Toeplitz) bias where element i + j is shared by many scores.
      {2, 2, 2, 13, 70, 8, 8, false, BTK_MASK_FLOAT, {}, false, true, "transposed float mask", {2 * 13 * 70, 13 * 70, 1, 13}},
      {2, 4, 2, 67, 70, 8, 8, true, BTK_MASK_FLOAT, {}, true, true, "Toeplitz float bias", {0, 0, 1, 1}},
      {1, 2, 2, 9, 11, 8, 8, false, BTK_MASK_BOOL, {}, false, true, "Toeplitz bool mask", {0, 0, 1, 1}},
  };
  for (const Case& c : cases) run_case(c);
  // Random small problems: every combination of mask kind, broadcast, causal,
  // padding and GQA, at sizes around the 64-wide tiles and the kernel widths.
  for (int trial = 0; trial < 120; ++trial) {
    Case c{};
    c.Hkv = test::random_int(1, 2);
    c.H = c.Hkv * test::random_int(1, 3);
    c.B = test::random_int(1, 3);
    c.Sq = test::random_int(1, 140);
    c.Sk = test::random_int(1, 140);
    c.D = test::random_int(1, 40);
    c.Dv = test::random_int(1, 40);
    c.causal = test::random_int(0, 1);
    c.mask_kind = static_cast<btk_mask_kind>(test::random_int(0, 2));
    for (int d = 0; d < 4; ++d) c.mask_dims[d] = test::random_int(0, 1);
    c.key_padding = test::random_int(0, 1);
    c.backward = true;
    char name[200];
    std::snprintf(name, sizeof name, "random B=%ld H=%ld Hkv=%ld Sq=%ld Sk=%ld D=%ld Dv=%ld causal=%d mask=%d dims=%ld%ld%ld%ld pad=%d",
                  (long)c.B, (long)c.H, (long)c.Hkv, (long)c.Sq, (long)c.Sk, (long)c.D, (long)c.Dv, c.causal, c.mask_kind,
                  (long)c.mask_dims[0], (long)c.mask_dims[1], (long)c.mask_dims[2], (long)c.mask_dims[3], c.key_padding);
    c.name = name;
    run_case(c);
  }
  nan_propagates();
  rejects_invalid_problems();
  return test::finish("test_attention");
}
