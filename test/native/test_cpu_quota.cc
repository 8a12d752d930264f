// The cgroup CPU quota parsing that caps the thread pool (cpu_quota.h).
#include "../../kernels/core/cpu_quota.h"
#include "test_support.h"

int main() {
  CHECK(btk::threads_for_cpu_quota(200000, 100000) == 2, "2 CPUs");
  CHECK(btk::threads_for_cpu_quota(150000, 100000) == 2, "1.5 CPUs round up");
  CHECK(btk::threads_for_cpu_quota(50000, 100000) == 1, "half a CPU is one thread");
  CHECK(btk::threads_for_cpu_quota(-1, 100000) == 0, "v1 unlimited");
  CHECK(btk::threads_for_cpu_quota(100000, 0) == 0, "no period");
  CHECK(btk::threads_for_cgroup2_cpu_max("max 100000\n") == 0, "v2 unlimited");
  CHECK(btk::threads_for_cgroup2_cpu_max("400000 100000\n") == 4, "v2 4 CPUs");
  CHECK(btk::threads_for_cgroup2_cpu_max("250000 100000") == 3, "v2 2.5 CPUs");
  CHECK(btk::threads_for_cgroup2_cpu_max("garbage") == 0, "unparsable");
  CHECK(btk::threads_for_cgroup2_cpu_max("") == 0, "empty");
  const int own = btk::cgroup_cpu_quota_threads();
  CHECK(own >= 0, "this process's quota reads as a count or 0");
  return test::finish("test_cpu_quota");
}
