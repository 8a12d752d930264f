// GEMM with every epilogue against the double-precision reference, on shapes
// that exercise full tiles, row/column edges, several K blocks and row strides.
#include "../../kernels/core/kernel_table.h"
#include "../../kernels/core/packed_weight.h"
#include "reference.h"
#include "test_support.h"

namespace {

void check_gemm(int64_t m, int64_t n, int64_t k, bool bias_on, btk_activation activation, bool residual_on,
                int64_t pad) {
  const int64_t lda = k + pad, ldc = n + pad, ldr = n + 2 * pad;
  const std::vector<float> a = test::random_floats(m * lda), w = test::random_floats(k * n),
                           bias = test::random_floats(n), residual = test::random_floats(m * ldr);
  btk_packed_weight* packed = btk_pack_weight(w.data(), k, n);
  CHECK(packed != nullptr, "pack %ldx%ld", (long)k, (long)n);
  if (!packed) return;
  CHECK(btk_packed_weight_rows(packed) == k && btk_packed_weight_cols(packed) == n, "packed shape");
  std::vector<float> c(m * ldc, 12345.0f);
  const btk_status status = btk_gemm(m, a.data(), lda, packed, c.data(), ldc, bias_on ? bias.data() : nullptr,
                                     activation, residual_on ? residual.data() : nullptr, ldr);
  CHECK(status == BTK_OK, "status %d", status);
  const std::vector<double> want = reference::gemm(m, n, k, a.data(), lda, w.data(), bias_on ? bias.data() : nullptr,
                                                   activation, residual_on ? residual.data() : nullptr, ldr);
  std::vector<float> got(m * n);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) got[i * n + j] = c[i * ldc + j];
  size_t where = 0;
  const double error = test::worst_error(got.data(), want.data(), got.size(), 2e-5 * std::sqrt((double)k + 1), 1e-5, &where);
  CHECK(error <= 1.0, "m=%ld n=%ld k=%ld bias=%d act=%d residual=%d: error ratio %g at %zu (got %g want %g)", (long)m,
        (long)n, (long)k, bias_on, activation, residual_on, error, where, got[where], want[where]);
  // Padding columns between rows must be untouched.
  for (int64_t i = 0; i < m && pad > 0; ++i) CHECK(c[i * ldc + n] == 12345.0f, "wrote past row end (row %ld)", (long)i);
  btk_free_packed_weight(packed);
}

// Several products of the same rows in one region (the encoder's separate Q,
// K, V): each output must equal its own GEMM, whatever the column widths.
void check_gemm_group(int64_t m, int64_t k, const std::vector<int64_t>& widths) {
  const btk::KernelTable& kernels = btk::active_kernels();
  const int64_t lda = k + 1, ldc = 3 * 512;
  const std::vector<float> a = test::random_floats(m * lda);
  std::vector<std::vector<float>> w, bias;
  std::vector<btk_packed_weight*> packed;
  std::vector<btk::GemmEpilogue> epilogues;
  std::vector<float> c(m * ldc, 12345.0f);
  std::vector<const btk::PackedWeight*> weights;
  std::vector<float*> outputs;
  std::vector<const btk::GemmEpilogue*> epilogue_ptrs;
  int64_t col = 0;
  for (int64_t n : widths) {
    w.push_back(test::random_floats(k * n));
    bias.push_back(test::random_floats(n));
    packed.push_back(btk::pack_weight_for(kernels, w.back().data(), k, n));
    epilogues.push_back(btk::GemmEpilogue{bias.back().data(), BTK_ACTIVATION_GELU_ERF, nullptr, 0});
  }
  for (size_t g = 0; g < widths.size(); ++g) {
    weights.push_back(&packed[g]->weight);
    outputs.push_back(c.data() + col);
    epilogue_ptrs.push_back(&epilogues[g]);
    col += widths[g];
  }
  CHECK(kernels.gemm_group(m, a.data(), lda, static_cast<int>(widths.size()), weights.data(), outputs.data(), ldc,
                           epilogue_ptrs.data()), "gemm_group status");
  col = 0;
  for (size_t g = 0; g < widths.size(); ++g) {
    const int64_t n = widths[g];
    const std::vector<double> want = reference::gemm(m, n, k, a.data(), lda, w[g].data(), bias[g].data(),
                                                     BTK_ACTIVATION_GELU_ERF, nullptr, 0);
    std::vector<float> got(m * n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) got[i * n + j] = c[i * ldc + col + j];
    size_t where = 0;
    const double error = test::worst_error(got.data(), want.data(), got.size(), 2e-5 * std::sqrt((double)k + 1), 1e-5, &where);
    CHECK(error <= 1.0, "group %zu of %zu (m=%ld n=%ld k=%ld): error ratio %g", g, widths.size(), (long)m, (long)n,
          (long)k, error);
    col += n;
    btk_free_packed_weight(packed[g]);
  }
  for (int64_t i = 0; i < m; ++i) CHECK(c[i * ldc + col] == 12345.0f, "gemm_group wrote past its columns (row %ld)", (long)i);
}

}  // namespace

int main() {
  test::check_requested_isa();
  const int64_t shapes[][3] = {{1, 1, 1},   {12, 32, 16},  {13, 37, 5},    {24, 64, 256}, {100, 97, 300},
                               {7, 200, 17}, {145, 50, 513}, {130, 300, 64}, {3, 5, 0},     {0, 8, 8}};
  for (const auto& s : shapes)
    for (int bias_on = 0; bias_on <= 1; ++bias_on)
      for (int residual_on = 0; residual_on <= 1; ++residual_on)
        check_gemm(s[0], s[1], s[2], bias_on, BTK_ACTIVATION_NONE, residual_on, s[0] % 2 ? 3 : 0);
  check_gemm_group(11, 384, {384, 384, 384});
  check_gemm_group(1, 40, {7});
  check_gemm_group(150, 300, {40, 200, 1});
  check_gemm_group(20, 64, {48, 96, 17, 5, 300, 31});  // more groups than one region takes
  // Packed A of a row block over 1 MiB: the K blocks run outermost (gemm_driver.h's PANEL_STREAM_A_BYTES),
  // with a partial last K block, partial row tiles and a narrow last panel; and two row blocks of it.
  check_gemm(300, 70, 1100, true, BTK_ACTIVATION_NONE, true, 1);
  check_gemm(601, 45, 1000, true, BTK_ACTIVATION_RELU, false, 0);
  check_gemm_group(290, 1000, {70, 33});
  const btk_activation activations[] = {BTK_ACTIVATION_RELU, BTK_ACTIVATION_GELU_ERF, BTK_ACTIVATION_GELU_TANH};
  for (int trial = 0; trial < 40; ++trial)  // random shapes and epilogues
    check_gemm(test::random_int(1, 200), test::random_int(1, 300), test::random_int(0, 600), test::random_int(0, 1),
               static_cast<btk_activation>(test::random_int(0, 3)), test::random_int(0, 1), test::random_int(0, 2));
  for (btk_activation act : activations) {
    check_gemm(37, 77, 40, true, act, false, 1);
    check_gemm(64, 96, 300, true, act, true, 0);
  }
  // Large-magnitude activations: GELU of +-10 and beyond must saturate cleanly.
  {
    const int64_t m = 4, n = 40, k = 1;
    std::vector<float> a = {30.0f, -30.0f, 0.0f, 5.0f}, w = test::random_floats(n, -3, 3);
    btk_packed_weight* packed = btk_pack_weight(w.data(), k, n);
    for (btk_activation act : activations) {
      std::vector<float> c(m * n);
      btk_gemm(m, a.data(), k, packed, c.data(), n, nullptr, act, nullptr, 0);
      const auto want = reference::gemm(m, n, k, a.data(), k, w.data(), nullptr, act, nullptr, 0);
      CHECK(test::worst_error(c.data(), want.data(), c.size(), 1e-4, 1e-5) <= 1.0, "saturation act=%d", act);
    }
    btk_free_packed_weight(packed);
  }
  // NaN propagates through GEMM and activations.
  {
    std::vector<float> a = {NAN, 1.0f}, w = {1.0f, 2.0f};
    btk_packed_weight* packed = btk_pack_weight(w.data(), 1, 2);
    for (btk_activation act : activations) {
      std::vector<float> c(4);
      btk_gemm(2, a.data(), 1, packed, c.data(), 2, nullptr, act, nullptr, 0);
      CHECK(std::isnan(c[0]) && std::isnan(c[1]) && !std::isnan(c[2]), "NaN act=%d", act);
    }
    btk_free_packed_weight(packed);
  }
  CHECK(btk_gemm(-1, nullptr, 0, nullptr, nullptr, 0, nullptr, BTK_ACTIVATION_NONE, nullptr, 0) == BTK_INVALID_ARGUMENT,
        "negative m");
  {
    std::vector<float> w = test::random_floats(4), c(4);
    btk_packed_weight* packed = btk_pack_weight(w.data(), 2, 2);
    CHECK(btk_gemm(2, w.data(), 2, packed, c.data(), 2, nullptr, BTK_ACTIVATION_NONE, c.data(), 2) == BTK_INVALID_ARGUMENT,
          "residual aliasing c");
    btk_free_packed_weight(packed);
  }
  return test::finish("test_gemm");
}
