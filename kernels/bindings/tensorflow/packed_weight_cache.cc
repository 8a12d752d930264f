#include "packed_weight_cache.h"

#include <cstdlib>
#include <list>
#include <mutex>
#include <new>

namespace bt_tf {
namespace {

// What a pack holds: float32 panels, a bfloat16 copy, or one of a transposed weight.
enum class Kind { kF32Panels, kBf16, kBf16Transposed };

struct Entry {
  TensorPtr tensor;  // the reference that pins the weight's buffer
  const void* data;
  int64_t rows, cols, bytes;
  Kind kind;
  SharedPackedWeight packed;
};

int64_t BudgetBytes() {
  const char* env = std::getenv("TFJS_BT_TENSORFLOW_WEIGHT_CACHE_MB");
  const long long mb = env ? std::strtoll(env, nullptr, 10) : 2048;
  return mb > 0 ? static_cast<int64_t>(mb) << 20 : 0;
}

SharedPackedWeight Pack(const TF_Tensor* weight, int64_t rows, int64_t cols, Kind kind) {
  const auto* data = static_cast<const float*>(TF_TensorData(weight));
  btk_packed_weight* packed = kind == Kind::kF32Panels ? btk_pack_weight(data, rows, cols)
                              : btk_pack_weight_bf16(data, rows, cols, kind == Kind::kBf16Transposed ? 1 : 0);
  if (!packed) throw std::bad_alloc();
  return SharedPackedWeight(packed, [](const btk_packed_weight* p) {
    btk_free_packed_weight(const_cast<btk_packed_weight*>(p));
  });
}

class Cache {
 public:
  SharedPackedWeight Get(TensorPtr& weight, int64_t rows, int64_t cols, Kind kind) {
    const void* data = TF_TensorData(weight.get());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = entries_.begin(); it != entries_.end(); ++it) {
        if (it->data == data && it->rows == rows && it->cols == cols && it->kind == kind) {
          entries_.splice(entries_.begin(), entries_, it);  // most recently used first
          return it->packed;
        }
      }
    }
    // Pack outside the lock: other kernels keep running meanwhile.
    SharedPackedWeight packed = Pack(weight.get(), rows, cols, kind);
    const int64_t bytes = btk_packed_weight_bytes(packed.get());
    if (bytes > budget_) return packed;
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Entry& e : entries_)  // another thread packed it first
      if (e.data == data && e.rows == rows && e.cols == cols && e.kind == kind) return e.packed;
    entries_.push_front(Entry{std::move(weight), data, rows, cols, bytes, kind, packed});
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
  return GlobalCache().Get(weight, rows, cols, Kind::kF32Panels);
}

SharedPackedWeight CachedBf16Weight(TensorPtr& weight, int64_t rows, int64_t cols, bool transposed) {
  return GlobalCache().Get(weight, rows, cols, transposed ? Kind::kBf16Transposed : Kind::kBf16);
}

}  // namespace bt_tf
