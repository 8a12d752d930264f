#include "packed_weight_cache.h"

#include <cstdlib>
#include <list>
#include <mutex>
#include <new>

namespace bt_tf {
namespace {

struct Entry {
  TensorPtr tensor;  // the reference that pins the weight's buffer
  const void* data;
  int64_t rows, cols, bytes;
  SharedPackedWeight packed;
};

int64_t BudgetBytes() {
  const char* env = std::getenv("TFJS_BT_TENSORFLOW_WEIGHT_CACHE_MB");
  const long long mb = env ? std::strtoll(env, nullptr, 10) : 2048;
  return mb > 0 ? static_cast<int64_t>(mb) << 20 : 0;
}

SharedPackedWeight Pack(const TF_Tensor* weight, int64_t rows, int64_t cols) {
  btk_packed_weight* packed = btk_pack_weight(static_cast<const float*>(TF_TensorData(weight)), rows, cols);
  if (!packed) throw std::bad_alloc();
  return SharedPackedWeight(packed, [](const btk_packed_weight* p) {
    btk_free_packed_weight(const_cast<btk_packed_weight*>(p));
  });
}

class Cache {
 public:
  SharedPackedWeight Get(TensorPtr& weight, int64_t rows, int64_t cols) {
    const void* data = TF_TensorData(weight.get());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->data == data && it->rows == rows && it->cols == cols) {
          entries_.splice(entries_.begin(), entries_, it);  // most recently used first
          return it->packed;
        }
      }
    }
    // Pack outside the lock: other kernels keep running meanwhile.
    SharedPackedWeight packed = Pack(weight.get(), rows, cols);
    const int64_t bytes = btk_packed_weight_bytes(packed.get());
    if (bytes > budget_) return packed;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_)  // another thread packed it first
      if (e.data == data && e.rows == rows && e.cols == cols) return e.packed;
    entries_.push_front(Entry{std::move(weight), data, rows, cols, bytes, packed});
    used_ += bytes;
    while (used_ > budget_) {
      used_ -= entries_.back().bytes;
      entries_.pop_back();  // a kernel still using the pack holds its own shared_ptr
    }
    return packed;
  }

 private:
  std::mutex mutex_;
  std::list<Entry> entries_;
  int64_t used_ = 0;
  const int64_t budget_ = BudgetBytes();
};

Cache& GlobalCache() {
  // Leaked on purpose: TensorFlow may run kernels while the process exits.
  static Cache* cache = new Cache();
  return *cache;
}

}  // namespace

SharedPackedWeight CachedPackedWeight(TensorPtr& weight, int64_t rows, int64_t cols) {
  return GlobalCache().Get(weight, rows, cols);
}

}  // namespace bt_tf
