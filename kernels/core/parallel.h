// A minimal parallel-for over std::thread: splits [0, n) into one contiguous
// range per hardware thread and runs small jobs inline. Kept header-only so
// every kernel file can use it.
#ifndef TFJS_BT_CORE_PARALLEL_H_
#define TFJS_BT_CORE_PARALLEL_H_

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <thread>
#include <vector>

namespace bt {

// Threads to use: TFJS_BT_NUM_THREADS if set (>= 1), else the hardware's count.
inline int64_t NumThreads() {
  static const int64_t threads = [] {
    if (const char* env = std::getenv("TFJS_BT_NUM_THREADS")) {
      const long v = std::strtol(env, nullptr, 10);
      if (v >= 1) return static_cast<int64_t>(v);
    }
    return static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  }();
  return threads;
}

// body(begin, end) over [0, n); inline when n * cost_per_item (rough
// multiply-adds) is too small to pay for starting threads.
template <typename Body>
void ParallelFor(int64_t n, double cost_per_item, Body body) {
  const int64_t threads = std::min<int64_t>(NumThreads(), n);
  if (threads <= 1 || static_cast<double>(n) * cost_per_item < 2e5) {
    if (n > 0) body(0, n);
    return;
  }
  std::vector<std::thread> pool;
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin < end) pool.emplace_back([=] { body(begin, end); });
  }
  body(0, std::min(n, chunk));
  for (auto& th : pool) th.join();
}

}  // namespace bt

#endif  // TFJS_BT_CORE_PARALLEL_H_
