// The core's own thread pool: persistent workers sized to the CPUs this process
// may run on (sched_getaffinity, capped by a cgroup CPU quota), or TFJS_BT_NUM_THREADS. One parallel region
// runs at a time: callers on other threads (Node worker_threads) wait for it,
// and a parallel_for called from inside a region runs inline, so nesting can
// never deadlock.
#ifndef BTK_THREAD_POOL_H_
#define BTK_THREAD_POOL_H_

#include <stdint.h>

namespace btk {

// body(context, begin, end) over disjoint ranges covering [0, count). Ranges
// are handed out dynamically, `grain` items at a time, to the calling thread and
// the workers. A plain function pointer, not std::function, because the ISA
// translation units must not share inline library code with generic ones.
using ParallelBody = void (*)(void* context, int64_t begin, int64_t end);
void parallel_for(int64_t count, int64_t grain, ParallelBody body, void* context);

// Threads a parallel region may use (workers + the caller).
int thread_count();

// 0 on the thread that called parallel_for, 1..thread_count()-1 on workers: an
// index for per-thread accumulators inside one region.
int current_thread_index();

// Adapter from a lambda: each lambda type instantiates its own trampoline.
template <class Body>
static inline void parallel_for_each(int64_t count, int64_t grain, Body& body) {
  parallel_for(count, grain,
               [](void* context, int64_t begin, int64_t end) { (*static_cast<Body*>(context))(begin, end); },
               &body);
}

}  // namespace btk

#endif  // BTK_THREAD_POOL_H_
