// Names of the TensorFlow ops this library registers, and their registration functions.
#ifndef TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_
#define TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_

#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"

namespace bt_tf {

constexpr const char* kAttentionOp = "BtFusedScaledDotProductAttention";
constexpr const char* kAttentionGradOp = "BtFusedScaledDotProductAttentionGrad";
constexpr const char* kEncoderLayerOp = "BtFusedTransformerEncoderLayer";
constexpr const char* kEncoderStackOp = "BtFusedTransformerEncoderStack";

void RegisterAttentionOps(TF_Status* status);
void RegisterEncoderLayerOp(TF_Status* status);
// DEVICE_GPU kernels for the ops above (gpu_kernels.cc; only in BT_WITH_CUDA builds).
void RegisterGpuKernels(TF_Status* status);
void RegisterEncoderStackOp(TF_Status* status);

// The ops' shape function: tfjs-node runs them eagerly, where kernels allocate
// their outputs, so graph shape inference is not needed and outputs are
// declared of unknown shape.
inline void UnknownShapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  (void)ctx;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_
