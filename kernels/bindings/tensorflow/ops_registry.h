// The TensorFlow ops this library defines and the kernels it registers for
// them. op_library.cc registers everything from one table of these functions,
// and reports what it registered.
//
// One name per op end to end: the tfjs kernels, the addon's functions, the CPU
// core's C ABI and the CUDA ABI call the ops ScaledDotProductAttention,
// ScaledDotProductAttentionGrad, TransformerEncoderLayer, TransformerEncoderStack,
// RmsNorm, RotaryEmbedding, AttentionWithKVCache, TransformerDecoderStack and ReorderCache, and the
// graph ops LayerNorm and EmbeddingSum; the TensorFlow ops are those names prefixed with Bt.
#ifndef TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_
#define TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_

#include "tensorflow/c/ops.h"
#include "tensorflow/c/tf_status.h"

namespace bt_tf {

constexpr const char* kScaledDotProductAttentionOp = "BtScaledDotProductAttention";
constexpr const char* kScaledDotProductAttentionGradOp = "BtScaledDotProductAttentionGrad";
constexpr const char* kTransformerEncoderLayerOp = "BtTransformerEncoderLayer";
constexpr const char* kTransformerEncoderStackOp = "BtTransformerEncoderStack";
constexpr const char* kRmsNormOp = "BtRmsNorm";
constexpr const char* kRotaryEmbeddingOp = "BtRotaryEmbedding";
constexpr const char* kAttentionWithKVCacheOp = "BtAttentionWithKVCache";
constexpr const char* kTransformerDecoderStackOp = "BtTransformerDecoderStack";
constexpr const char* kReorderCacheOp = "BtReorderCache";
constexpr const char* kLayerNormOp = "BtLayerNorm";
constexpr const char* kEmbeddingSumOp = "BtEmbeddingSum";

// One registration: an op's definition (device null) or one of its kernels
// (device "CPU" or "GPU"). `add` registers it, reporting failure through status.
struct OpRegistration {
  const char* op;
  const char* device;
  void (*add)(TF_Status* status);
};

// Op definitions (attention_ops.cc, encoder_ops.cc, decoder_ops.cc).
void DefineScaledDotProductAttention(TF_Status* status);
void DefineScaledDotProductAttentionGrad(TF_Status* status);
void DefineTransformerEncoderLayer(TF_Status* status);
void DefineTransformerEncoderStack(TF_Status* status);
void DefineRmsNorm(TF_Status* status);
void DefineRotaryEmbedding(TF_Status* status);
void DefineAttentionWithKVCache(TF_Status* status);
void DefineTransformerDecoderStack(TF_Status* status);
void DefineReorderCache(TF_Status* status);
// The graph ops (graph_ops.cc).
void DefineLayerNorm(TF_Status* status);
void DefineEmbeddingSum(TF_Status* status);

// DEVICE_CPU kernels, over the native core (same files).
void RegisterScaledDotProductAttentionCpu(TF_Status* status);
void RegisterScaledDotProductAttentionGradCpu(TF_Status* status);
void RegisterTransformerEncoderLayerCpu(TF_Status* status);
void RegisterTransformerEncoderStackCpu(TF_Status* status);
void RegisterRmsNormCpu(TF_Status* status);
void RegisterRotaryEmbeddingCpu(TF_Status* status);
void RegisterAttentionWithKVCacheCpu(TF_Status* status);
void RegisterTransformerDecoderStackCpu(TF_Status* status);
void RegisterReorderCacheCpu(TF_Status* status);
void RegisterLayerNormCpu(TF_Status* status);
void RegisterEmbeddingSumCpu(TF_Status* status);

// DEVICE_GPU kernels, over libbt_cuda (gpu_kernels.cc; only in BT_WITH_CUDA builds).
void RegisterScaledDotProductAttentionGpu(TF_Status* status);
void RegisterScaledDotProductAttentionGradGpu(TF_Status* status);
void RegisterTransformerEncoderLayerGpu(TF_Status* status);
void RegisterTransformerEncoderStackGpu(TF_Status* status);
void RegisterRmsNormGpu(TF_Status* status);
void RegisterRotaryEmbeddingGpu(TF_Status* status);
void RegisterAttentionWithKVCacheGpu(TF_Status* status);
void RegisterTransformerDecoderStackGpu(TF_Status* status);
// graph_ops_gpu.cc.
void RegisterLayerNormGpu(TF_Status* status);
void RegisterEmbeddingSumGpu(TF_Status* status);
void RegisterReorderCacheGpu(TF_Status* status);

// The ops' shape function: tfjs-node runs them eagerly, where kernels allocate
// their outputs, so graph shape inference is not needed and outputs are
// declared of unknown shape.
inline void UnknownShapes(TF_ShapeInferenceContext* ctx, TF_Status* status) {
  (void)ctx;
  TF_SetStatus(status, TF_OK, "");
}

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_OPS_REGISTRY_H_
