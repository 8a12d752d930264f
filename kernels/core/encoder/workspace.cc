#include "workspace.h"

#include <mutex>
#include <utility>
#include <vector>

#include "../large_block.h"

namespace btk {
namespace {

// A buffer of `floats` plus one line of slack for vector reads past the end.
size_t block_bytes(size_t floats) { return floats * sizeof(float) + kLargeBlockAlignment; }

// Buffers kept between calls: a few (one per concurrent caller is typical),
// and none larger than kMaxCachedBytes, so a one-off huge batch does not pin
// its memory for the life of the process.
constexpr size_t kMaxCached = 4;
constexpr size_t kMaxCachedBytes = size_t(256) << 20;

struct Cache {
  std::mutex mutex;
  std::vector<std::pair<float*, size_t>> free_buffers;  // (data, capacity in floats)
};

Cache& cache() {
  static Cache* instance = new Cache;  // leaked on purpose, like the thread pool
  return *instance;
}

}  // namespace

Workspace::Workspace(size_t floats) : data_(nullptr), capacity_(0) {
  {
    std::lock_guard<std::mutex> lock(cache().mutex);
    auto& buffers = cache().free_buffers;
    // The smallest cached buffer that fits.
    size_t best = buffers.size();
    for (size_t i = 0; i < buffers.size(); ++i)
      if (buffers[i].second >= floats && (best == buffers.size() || buffers[i].second < buffers[best].second)) best = i;
    if (best != buffers.size()) {
      data_ = buffers[best].first;
      capacity_ = buffers[best].second;
      buffers.erase(buffers.begin() + static_cast<std::ptrdiff_t>(best));
      return;
    }
  }
  data_ = static_cast<float*>(allocate_large_block(block_bytes(floats)));
  capacity_ = data_ ? floats : 0;
}

Workspace::~Workspace() {
  if (!data_) return;
  if (capacity_ * sizeof(float) <= kMaxCachedBytes) {
    std::lock_guard<std::mutex> lock(cache().mutex);
    auto& buffers = cache().free_buffers;
    buffers.emplace_back(data_, capacity_);
    if (buffers.size() <= kMaxCached) return;
    // Too many: drop the smallest.
    size_t smallest = 0;
    for (size_t i = 1; i < buffers.size(); ++i)
      if (buffers[i].second < buffers[smallest].second) smallest = i;
    data_ = buffers[smallest].first;
    capacity_ = buffers[smallest].second;
    buffers.erase(buffers.begin() + static_cast<std::ptrdiff_t>(smallest));
  }
  free_large_block(data_, block_bytes(capacity_));
}

}  // namespace btk
