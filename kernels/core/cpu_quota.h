// The CPU time a container may use (its cgroup CPU quota), as a thread count.
// A container limited to 2 CPUs of a 64-CPU host still sees all 64 in its
// affinity mask; a pool of 64 busy threads would then be throttled by the
// kernel scheduler for most of every period.
#ifndef BTK_CPU_QUOTA_H_
#define BTK_CPU_QUOTA_H_

#include <stdint.h>

namespace btk {

// ceil(quota / period); 0 when there is no limit (quota <= 0 or period <= 0).
int threads_for_cpu_quota(int64_t quota, int64_t period);

// Parses cgroup v2's cpu.max ("max 100000" or "200000 100000"); 0 when unlimited or unreadable.
int threads_for_cgroup2_cpu_max(const char* text);

// The calling process's quota from cgroup v2 (cpu.max) or v1 (cpu.cfs_quota_us /
// cpu.cfs_period_us) under /sys/fs/cgroup; 0 when there is none.
int cgroup_cpu_quota_threads();

}  // namespace btk

#endif  // BTK_CPU_QUOTA_H_
