#include "cpu_quota.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace btk {
namespace {

// The first line of a small text file, or false.
bool read_line(const char* path, char* buffer, size_t size) {
  FILE* file = std::fopen(path, "r");
  if (!file) return false;
  const bool ok = std::fgets(buffer, static_cast<int>(size), file) != nullptr;
  std::fclose(file);
  return ok;
}

bool read_integer(const char* path, int64_t* value) {
  char line[64];
  if (!read_line(path, line, sizeof line)) return false;
  char* end = nullptr;
  *value = std::strtoll(line, &end, 10);
  return end != line;
}

}  // namespace

int threads_for_cpu_quota(int64_t quota, int64_t period) {
  if (quota <= 0 || period <= 0) return 0;
  const int64_t threads = (quota + period - 1) / period;
  return threads > 1024 ? 1024 : static_cast<int>(threads);
}

int threads_for_cgroup2_cpu_max(const char* text) {
  if (!text || std::strncmp(text, "max", 3) == 0) return 0;
  char* end = nullptr;
  const int64_t quota = std::strtoll(text, &end, 10);
  if (end == text) return 0;
  char* period_end = nullptr;
  const int64_t period = std::strtoll(end, &period_end, 10);
  return period_end == end ? 0 : threads_for_cpu_quota(quota, period);
}

int cgroup_cpu_quota_threads() {
#ifdef __linux__
  char line[128];
  if (read_line("/sys/fs/cgroup/cpu.max", line, sizeof line)) return threads_for_cgroup2_cpu_max(line);
  const char* const v1_dirs[] = {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"};
  for (const char* dir : v1_dirs) {
    char quota_path[96], period_path[96];
    std::snprintf(quota_path, sizeof quota_path, "%s/cpu.cfs_quota_us", dir);
    std::snprintf(period_path, sizeof period_path, "%s/cpu.cfs_period_us", dir);
    int64_t quota = 0, period = 0;
    if (read_integer(quota_path, &quota) && read_integer(period_path, &period))
      return threads_for_cpu_quota(quota, period);
  }
#endif
  return 0;
}

}  // namespace btk
