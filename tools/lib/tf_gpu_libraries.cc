// Asks libtensorflow_framework.so.2 to dlopen the CUDA libraries it needs for a GPU (cudart,
// cuBLAS, cuBLASLt, cuFFT, cuSOLVER, cuSPARSE, cuDNN) the way it does when it finds one:
// tsl::internal::DsoLoader::MaybeTryDlopenGPULibraries(), exported by the library. The dlopen
// calls are TensorFlow's own, so its RUNPATH ($ORIGIN/../nvidia/*/lib), LD_LIBRARY_PATH and the
// system's library cache decide, as in tfjs-node-gpu. No GPU or driver is needed.
// Exit status 0 when all of them load. Built and run by tools/setup-tfjs-node-gpu.sh; with
// TF_CPP_VMODULE=dso_loader=1 TensorFlow logs each library it opened or could not open.
//
// The function returns an absl::Status, whose layout is one uintptr_t (0 when OK in the absl
// of TensorFlow 2.15) with a non-trivial destructor, so it comes back through a hidden pointer:
// StatusRep has the same size and the same return convention. Nothing else of it is read.
#include <cstdint>
#include <cstdio>

struct StatusRep {
  uintptr_t rep;
  ~StatusRep() {}  // non-trivial, like absl::Status: returned in memory, not in a register
};
namespace tsl {
namespace internal {
namespace DsoLoader {
StatusRep MaybeTryDlopenGPULibraries();
}  // namespace DsoLoader
}  // namespace internal
}  // namespace tsl

int main() {
  StatusRep status = tsl::internal::DsoLoader::MaybeTryDlopenGPULibraries();
  if (status.rep != 0) {
    std::fprintf(stderr, "TensorFlow could not dlopen all of its GPU libraries\n");
    return 1;
  }
  std::printf("TensorFlow opened all of its GPU libraries\n");
  return 0;
}
