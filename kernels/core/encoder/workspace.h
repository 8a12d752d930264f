// Scratch memory for encoder calls, reused from call to call. A fresh multi-MiB
// buffer is page-faulted in on first touch every time, which measured ~15% of
// a single BERT-base layer call; reusing the last few buffers avoids that.
#ifndef BTK_ENCODER_WORKSPACE_H_
#define BTK_ENCODER_WORKSPACE_H_

#include <cstddef>

namespace btk {

class Workspace {
 public:
  // At least `floats` 64-byte aligned floats, uninitialised; data() is null
  // when memory runs out.
  explicit Workspace(size_t floats);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  float* data() const { return data_; }

 private:
  float* data_;
  size_t capacity_;
};

}  // namespace btk

#endif  // BTK_ENCODER_WORKSPACE_H_
