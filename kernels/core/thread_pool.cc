#include "thread_pool.h"

#include "cpu_quota.h"

#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

namespace btk {
namespace {

// True on a thread while it runs part of a parallel region (pool workers
// always): a nested parallel_for then runs inline instead of waiting on itself.
thread_local bool t_in_parallel_region = false;
thread_local int t_thread_index = 0;

int threads_from_environment_or_affinity() {
  if (const char* env = std::getenv("TFJS_BT_NUM_THREADS")) {
    char* end = nullptr;
    const long requested = std::strtol(env, &end, 10);
    if (end != env && requested >= 1) return requested > 1024 ? 1024 : static_cast<int>(requested);
  }
  int cpus = 0;
#ifdef __linux__
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) cpus = CPU_COUNT(&allowed);
#endif
  if (cpus < 1) {
    const unsigned hardware = std::thread::hardware_concurrency();
    cpus = hardware >= 1 ? static_cast<int>(hardware) : 1;
  }
  // A container's CPU quota caps the pool too: more busy threads than the quota only get throttled.
  const int quota = cgroup_cpu_quota_threads();
  return quota >= 1 && quota < cpus ? quota : cpus;
}

// How long a thread spins before it blocks, both a worker waiting for the next
// region and the caller waiting for the workers to finish one. The encoder runs
// ~10 short parallel regions per layer; a futex wake-up costs a few
// microseconds on an idle host but far more in a virtual machine whose vCPU the
// host has descheduled while it slept (measured: a T5-small encoder call went
// from 12 to 22 ms when the threads slept between regions after 100 ms idle).
// So the wait is timed, not counted in PAUSEs (whose latency differs tenfold
// between CPUs), and long enough to cover the gaps inside one call and between
// the calls of a generation loop; TFJS_BT_SPIN_MICROSECONDS overrides it (0:
// block at once).
int spin_microseconds_from_environment() {
  if (const char* env = std::getenv("TFJS_BT_SPIN_MICROSECONDS")) {
    char* end = nullptr;
    const long requested = std::strtol(env, &end, 10);
    if (end != env && requested >= 0) return requested > 1000000 ? 1000000 : static_cast<int>(requested);
  }
  return 2000;
}

const std::chrono::microseconds kSpin{spin_microseconds_from_environment()};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

// Spins until done() or kSpin has passed; true if done() came true. The clock
// is read every 64 checks: a read costs about as much as a PAUSE.
template <class Done>
bool spin_until(Done done) {
  if (kSpin.count() == 0) return done();
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
  }
}

// A region is done when all its ranges are: the caller does not wait for a
// worker that has not started. Measured on 2 vCPUs: the first region of a
// T5-small encoder call at batch 1 took 0.3 ms instead of 0.007 ms whenever
// the spinning worker had been descheduled (Node's own background threads share
// the CPU), because the caller, having run every range itself, still waited for
// the worker to wake and check in; a late worker now finds nothing to take.
//
// So a worker can arrive after its region ended. The job fields are guarded by
// a Dekker-style handshake (all seq_cst): the caller invalidates `published_`
// and then waits for `active_` to drain before rewriting them; a worker
// increments `active_` and then re-reads `published_`, and leaves if it
// changed. Either the caller sees the worker's increment and waits, or the
// worker sees the invalidation and leaves.
class ThreadPool {
 public:
  explicit ThreadPool(int threads) : threads_(threads) {
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
    // Workers are never joined: the pool lives until the process exits, which
    // avoids static-destruction-order problems when Node tears down.
    for (auto& worker : workers_) worker.detach();
  }

  int threads() const { return threads_; }

  void run(int64_t count, int64_t grain, ParallelBody body, void* context) {
    std::lock_guard<std::mutex> one_region_at_a_time(submit_mutex_);
    published_.store(0);
    // Workers that arrived late for the previous region leave at once (they find no range).
    while (active_.load() != 0) cpu_relax();
    body_ = body;
    context_ = context;
    count_ = count;
    grain_ = grain;
    next_.store(0, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);  // so a worker between its check and its wait cannot miss this
      published_.store(++generation_);
    }
    wake_.notify_all();
    t_in_parallel_region = true;
    take_ranges();
    t_in_parallel_region = false;
    if (spin_until([this] { return done_.load(std::memory_order_acquire) == count_; })) return;
    std::unique_lock<std::mutex> lock(mutex_);
    finished_.wait(lock, [this] { return done_.load(std::memory_order_acquire) == count_; });
  }

 private:
  void take_ranges() {
    for (;;) {
      const int64_t begin = next_.fetch_add(grain_, std::memory_order_relaxed);
      if (begin >= count_) return;
      const int64_t end = begin + grain_ < count_ ? begin + grain_ : count_;
      body_(context_, begin, end);
      // Release: the range's writes are visible to the caller once it sees the count.
      if (done_.fetch_add(end - begin, std::memory_order_acq_rel) + (end - begin) == count_ &&
          t_thread_index != 0) {
        std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's predicate check
        finished_.notify_one();
      }
    }
  }

  void worker_loop(int index) {
    t_in_parallel_region = true;
    t_thread_index = index;
    uint64_t seen = 0;
    auto new_region = [&] {
      const uint64_t region = published_.load(std::memory_order_acquire);
      return region != 0 && region != seen;
    };
    for (;;) {
      if (!spin_until(new_region)) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, new_region);
      }
      const uint64_t region = published_.load();
      if (region == 0 || region == seen) continue;
      active_.fetch_add(1);
      if (published_.load() == region) {
        take_ranges();
        seen = region;
      }
      active_.fetch_sub(1);
    }
  }

  const int threads_;
  std::vector<std::thread> workers_;
  std::mutex submit_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, finished_;
  uint64_t generation_ = 0;                 // the caller's count of regions (under submit_mutex_)
  std::atomic<uint64_t> published_{0};     // the region whose fields are valid; 0 while they are rewritten
  std::atomic<int> active_{0};             // workers between their check of published_ and leaving
  ParallelBody body_ = nullptr;
  void* context_ = nullptr;
  int64_t count_ = 0, grain_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<int64_t> done_{0};
};

ThreadPool& pool() {
  // Deliberately leaked (see the constructor); reachable, so leak checkers agree.
  static ThreadPool* instance = new ThreadPool(threads_from_environment_or_affinity());
  return *instance;
}

}  // namespace

int thread_count() { return pool().threads(); }

int current_thread_index() { return t_thread_index; }

void parallel_for(int64_t count, int64_t grain, ParallelBody body, void* context) {
  if (count <= 0) return;
  if (grain < 1) grain = 1;
  if (t_in_parallel_region || count <= grain || pool().threads() == 1) {
    const bool was_inside = t_in_parallel_region;
    t_in_parallel_region = true;
    body(context, 0, count);
    t_in_parallel_region = was_inside;
    return;
  }
  pool().run(count, grain, body, context);
}

}  // namespace btk
