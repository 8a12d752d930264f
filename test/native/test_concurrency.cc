// Several application threads calling the core at once (as Node worker_threads
// do) must get the same results as one caller: parallel regions are serialised
// by the pool and everything else is per call. Run under ThreadSanitizer by
// `make -C kernels tsan-test`.
#include <thread>

#include "test_support.h"

int main() {
  test::check_requested_isa();
  btk_sdpa_problem p{};
  p.batch = 2; p.heads = 4; p.kv_heads = 2; p.q_len = 70; p.kv_len = 90; p.head_dim = 16; p.value_dim = 16;
  p.scale = 0.25f; p.causal = 1;
  const auto q = test::random_floats(2 * 4 * 70 * 16), k = test::random_floats(2 * 2 * 90 * 16),
             v = test::random_floats(2 * 2 * 90 * 16), w = test::random_floats(64 * 96), a = test::random_floats(50 * 64);
  btk_packed_weight* packed = btk_pack_weight(w.data(), 64, 96);

  std::vector<float> want_out(q.size()), want_gemm(50 * 96);
  btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), want_out.data(), nullptr);
  btk_gemm(50, a.data(), 64, packed, want_gemm.data(), 96, nullptr, BTK_ACTIVATION_GELU_ERF, nullptr, 0);

  constexpr int kCallers = 4;
  std::vector<int> mismatches(kCallers, 0);
  std::vector<std::thread> callers;
  for (int t = 0; t < kCallers; ++t)
    callers.emplace_back([&, t] {
      std::vector<float> out(q.size()), c(50 * 96);
      for (int round = 0; round < 5; ++round) {
        btk_scaled_dot_product_attention(&p, q.data(), k.data(), v.data(), out.data(), nullptr);
        btk_gemm(50, a.data(), 64, packed, c.data(), 96, nullptr, BTK_ACTIVATION_GELU_ERF, nullptr, 0);
        mismatches[t] += out != want_out || c != want_gemm;
      }
    });
  for (auto& caller : callers) caller.join();
  for (int t = 0; t < kCallers; ++t) CHECK(mismatches[t] == 0, "caller %d got different results %d times", t, mismatches[t]);
  btk_free_packed_weight(packed);
  return test::finish("test_concurrency");
}
