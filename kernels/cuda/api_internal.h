// What the C ABI's translation units share (defined in bt_cuda_api.cu): the
// per-thread message of bt_cuda_last_error(), the context, and the device and
// pointer checks, so that every entry point fails the same way.
#ifndef TFJS_BT_CUDA_API_INTERNAL_H_
#define TFJS_BT_CUDA_API_INTERNAL_H_

#include <string>

#include <cuda_runtime.h>

#include "bt_cuda.h"

namespace btc {

// Sets the calling thread's bt_cuda_last_error() message and returns status.
int ApiFail(int status, const std::string& message);
// A CUDA runtime failure as a status (BT_CUDA_NO_DEVICE without a driver or device), its message set.
int ApiCudaFail(cudaError_t err, const char* what);
// BT_CUDA_OK when a CUDA device is usable, else BT_CUDA_NO_DEVICE (or the runtime's error).
int ApiRequireDevice();
// Makes ctx's device current and gives the stream to run on (`stream`, or the context's own when null).
int ApiEnter(bt_cuda_context* ctx, void* stream, cudaStream_t* out);
// ptr is null or device (managed) memory; ptr is null or not device memory.
int ApiRequireDevicePointer(const void* ptr, const char* name);
int ApiRequireHostPointer(const void* ptr, const char* name);

}  // namespace btc

#endif  // TFJS_BT_CUDA_API_INTERNAL_H_
