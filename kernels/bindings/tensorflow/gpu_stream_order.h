// GPU kernels of the op library run on libbt_cuda's own stream, one context per
// device. TensorFlow's C API does not expose the stream of the stock GPU device
// (TF_GetStream serves pluggable devices only), so each op is ordered by
// synchronisation: wait until the device is idle (the producers of our inputs,
// queued on TensorFlow's stream, have finished, and memory TensorFlow just
// handed us is no longer in use), run on our stream, and wait for our stream
// before returning (TensorFlow's consumers are queued right after Compute
// returns). kernels/cuda/README.md explains the choice.
#ifndef TFJS_BT_TENSORFLOW_GPU_STREAM_ORDER_H_
#define TFJS_BT_TENSORFLOW_GPU_STREAM_ORDER_H_

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

#include "bt_cuda.h"
#include "tf_helpers.h"

namespace bt_tf {

// Thrown when a libbt_cuda call fails; GuardedCompute turns it into an INTERNAL op failure.
struct CudaFailure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

inline void CheckCuda(int status, const char* what) {
  if (status != BT_CUDA_OK) {
    if (status == BT_CUDA_INVALID_ARGUMENT || status == BT_CUDA_UNSUPPORTED) {
      throw InvalidArgument{std::string(what) + ": " + bt_cuda_last_error()};
    }
    throw CudaFailure(std::string(what) + ": " + bt_cuda_status_name(status) + ": " + bt_cuda_last_error());
  }
}

// The context of `device`, created on first use and kept for the process's lifetime.
inline bt_cuda_context* ContextForDevice(int device) {
  static std::mutex mutex;
  static bt_cuda_context* contexts[64] = {};
  if (device < 0 || device >= 64) throw InvalidArgument{"GPU device index out of range"};
  std::lock_guard<std::mutex> lock(mutex);
  if (!contexts[device]) CheckCuda(bt_cuda_context_create(device, &contexts[device]), "creating the CUDA context");
  return contexts[device];
}

// Device scratch from TensorFlow's allocator, alive until Compute returns. Taken before the device
// wait (OrderedGpuWork) like every buffer, so nothing queued earlier can still be using it.
inline TensorPtr DeviceTemp(TF_OpKernelContext* ctx, int64_t bytes) {
  auto status = NewStatus();
  TF_AllocatorAttributes attrs{TF_ALLOCATOR_ATTRIBUTES_STRUCT_SIZE, 0};
  const int64_t dims[1] = {bytes > 0 ? bytes : 1};
  TF_Tensor* t = TF_AllocateTemp(ctx, TF_UINT8, dims, 1, &attrs, status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string("allocating scratch: ") + TF_Message(status.get())};
  return TensorPtr(t);
}

// Brackets our GPU work: the constructor waits for the device, Finish() for our stream.
class OrderedGpuWork {
 public:
  explicit OrderedGpuWork(int device) : ctx_(ContextForDevice(device)) {
    CheckCuda(bt_cuda_wait_device(ctx_), "waiting for the device");
  }
  bt_cuda_context* context() const { return ctx_; }
  void Finish() { CheckCuda(bt_cuda_synchronize(ctx_), "waiting for the kernels"); }

 private:
  bt_cuda_context* ctx_;
};

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_GPU_STREAM_ORDER_H_
