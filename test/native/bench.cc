// Rough GFLOP/s of the core on a few representative shapes (kept short: the
// development machines are shared). Threads: TFJS_BT_NUM_THREADS; ISA: TFJS_BT_ISA.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <vector>

#include "test_support.h"

namespace {

double seconds_per_run(const std::function<void()>& run, double min_seconds = 0.3) {
  run();  // warm up (packing, pool start, page faults)
  int runs = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0.0;
  do {
    run();
    ++runs;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < min_seconds);
  return elapsed / runs;
}

#if defined(__x86_64__)
// Peak single-core FP32 FMA throughput: 12 independent zmm FMA chains in asm.
double fma_peak_gflops() {
  long iterations = 20000000;
  const auto start = std::chrono::steady_clock::now();
  __asm__ volatile(
      "vxorps %%xmm0, %%xmm0, %%xmm0\n"
      "1:\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm0\n vfmadd231ps %%zmm14, %%zmm15, %%zmm1\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm2\n vfmadd231ps %%zmm14, %%zmm15, %%zmm3\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm4\n vfmadd231ps %%zmm14, %%zmm15, %%zmm5\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm6\n vfmadd231ps %%zmm14, %%zmm15, %%zmm7\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm8\n vfmadd231ps %%zmm14, %%zmm15, %%zmm9\n"
      "vfmadd231ps %%zmm14, %%zmm15, %%zmm10\n vfmadd231ps %%zmm14, %%zmm15, %%zmm11\n"
      "dec %0\n jnz 1b\n vzeroupper\n"
      : "+r"(iterations)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "cc");
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 20000000.0 * 12 * 16 * 2 / s / 1e9;
}
#endif

void bench_gemm(int64_t m, int64_t n, int64_t k, btk_activation activation = BTK_ACTIVATION_NONE) {
  const auto a = test::random_floats(m * k), w = test::random_floats(k * n), bias = test::random_floats(n);
  std::vector<float> c(m * n);
  btk_packed_weight* packed = btk_pack_weight(w.data(), k, n);
  const double s = seconds_per_run([&] { btk_gemm(m, a.data(), k, packed, c.data(), n, bias.data(), activation, nullptr, 0); });
  std::printf("  gemm %5ldx%5ldx%5ld (MxNxK) + bias%s %8.3f ms  %7.1f GFLOP/s\n", (long)m, (long)n, (long)k,
              activation == BTK_ACTIVATION_GELU_ERF ? " + gelu" : "       ", s * 1e3,
              2.0 * m * n * k / s / 1e9);
  btk_free_packed_weight(packed);
}

void bench_attention(int64_t b, int64_t h, int64_t s_len, int64_t d, bool causal) {
  btk_sdpa_problem p{};
  p.batch = b; p.heads = h; p.kv_heads = h; p.q_len = s_len; p.kv_len = s_len; p.head_dim = d; p.value_dim = d;
  p.scale = 0.125f; p.causal = causal;
  const auto q = test::random_floats(b * h * s_len * d), k = test::random_floats(b * h * s_len * d),
             v = test::random_floats(b * h * s_len * d), d_out = test::random_floats(b * h * s_len * d);
  std::vector<float> out(q.size()), lse(b * h * s_len), dq(q.size()), dk(q.size()), dv(q.size());
  const double flops = 4.0 * b * h * s_len * s_len * d * (causal ? 0.5 : 1.0);
  const double fwd = seconds_per_run(
      [&] { btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), out.data(), lse.data()); });
  std::printf("  attention fwd B=%ld H=%ld S=%ld D=%ld%s  %8.3f ms  %7.1f GFLOP/s\n", (long)b, (long)h, (long)s_len,
              (long)d, causal ? " causal" : "       ", fwd * 1e3, flops / fwd / 1e9);
  const double bwd = seconds_per_run([&] {
    btk_scaled_dot_product_attention_grad(&p, q.data(), k.data(), v.data(), out.data(), lse.data(), d_out.data(),
                                          dq.data(), dk.data(), dv.data(), nullptr);
  });
  // Backward does 2.5x the forward's useful matmul work (dV, dP, dQ, dK + recomputed S).
  std::printf("  attention bwd B=%ld H=%ld S=%ld D=%ld%s  %8.3f ms  %7.1f GFLOP/s (useful 2.5x fwd flops)\n", (long)b,
              (long)h, (long)s_len, (long)d, causal ? " causal" : "       ", bwd * 1e3, 2.5 * flops / bwd / 1e9);
}

void bench_encoder(int64_t batch, int64_t s, int64_t e, int64_t heads, int64_t f, int real_percent, int layers = 1) {
  const float r = 0.03f;
  const auto wqkv = test::random_floats(e * 3 * e, -r, r), wo = test::random_floats(e * e, -r, r),
             w1 = test::random_floats(e * f, -r, r), w2 = test::random_floats(f * e, -r, r),
             bqkv = test::random_floats(3 * e), bo = test::random_floats(e), b1 = test::random_floats(f),
             b2 = test::random_floats(e);
  const std::vector<float> ones(e, 1.0f), zeros(e, 0.0f);
  btk_encoder_layer_params layer{};
  layer.num_heads = heads;
  layer.w_qkv = btk_pack_weight(wqkv.data(), e, 3 * e);
  layer.w_o = btk_pack_weight(wo.data(), e, e);
  layer.w_ffn1 = btk_pack_weight(w1.data(), e, f);
  layer.w_ffn2 = btk_pack_weight(w2.data(), f, e);
  layer.b_qkv = bqkv.data(); layer.b_o = bo.data(); layer.b_ffn1 = b1.data(); layer.b_ffn2 = b2.data();
  layer.ln1_gamma = ones.data(); layer.ln1_beta = zeros.data(); layer.ln2_gamma = ones.data(); layer.ln2_beta = zeros.data();
  layer.ln1_eps = layer.ln2_eps = 1e-12f;
  layer.activation = BTK_ACTIVATION_GELU_ERF;
  layer.attention_scale = std::nanf("");  // 1/sqrt(head dim)
  const auto x = test::random_floats(batch * s * e);
  std::vector<uint8_t> padding(batch * s, 1);
  int64_t real = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = 0; t < s; ++t) real += (padding[b * s + t] = t < s * real_percent / 100);
  std::vector<float> y(x.size());
  const std::vector<btk_encoder_layer_params> stack(layers, layer);  // same weights in every layer
  const double sec = seconds_per_run(
      [&] { btk_transformer_encoder_stack(stack.data(), layers, x.data(), batch, s, e, padding.data(), nullptr, 0, y.data()); });
  const int64_t len = s * real_percent / 100;
  const double flops = layers * batch * (2.0 * len * (4.0 * e * e + 2.0 * e * f) + 4.0 * len * len * e);
  std::printf("  encoder %2d layer%s B=%ld S=%ld (%d%% real) E=%ld H=%ld F=%ld  %8.3f ms  %7.1f GFLOP/s\n", layers,
              layers > 1 ? "s" : " ", (long)batch, (long)s, real_percent, (long)e, (long)heads, (long)f, sec * 1e3,
              flops / sec / 1e9);
  for (auto* w : {layer.w_qkv, layer.w_o, layer.w_ffn1, layer.w_ffn2}) btk_free_packed_weight(const_cast<btk_packed_weight*>(w));
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && !std::strcmp(argv[1], "--gemm-only");
  std::printf("btk %s: isa %s, %d threads\n", btk_version(), btk_isa_name(), btk_num_threads());
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) std::printf("  fp32 FMA peak, one core (zmm probe)  %7.1f GFLOP/s\n", fma_peak_gflops());
#endif
  bench_gemm(768, 768, 3072);
  bench_gemm(128, 3072, 768);
  bench_gemm(128, 768, 3072);
  bench_gemm(128, 2304, 768);
  bench_gemm(128, 3072, 768, BTK_ACTIVATION_GELU_ERF);
  bench_gemm(128, 768, 768);
  if (quick) return 0;
  bench_attention(1, 12, 512, 64, false);
  bench_attention(1, 12, 512, 64, true);
  bench_encoder(1, 128, 768, 12, 3072, 100);
  bench_encoder(4, 128, 768, 12, 3072, 50);
  bench_encoder(1, 16, 768, 12, 3072, 100);
  bench_encoder(1, 128, 768, 12, 3072, 100, 12);
  return 0;
}
