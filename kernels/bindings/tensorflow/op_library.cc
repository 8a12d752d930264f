// Node-API entry point of the TensorFlow op library. Loading it (after
// @tensorflow/tfjs-node, so that the same libtensorflow is already in the
// process) registers the ops and their kernels with TensorFlow, from the one
// table below; tfjs-node can then run them by name. It exports whether that
// worked and what was registered:
//   {ok: boolean, error: string, ops: string[], kernels: {op, device: 'CPU' | 'GPU'}[]}
// (ops and kernels list what registered before a failure, if any).
#include <node_api.h>

#include <string>

#include "ops_registry.h"
#include "tf_helpers.h"

namespace {

using bt_tf::OpRegistration;

// Every op's definition comes before its kernels.
const OpRegistration kRegistrations[] = {
    {bt_tf::kScaledDotProductAttentionOp, nullptr, &bt_tf::DefineScaledDotProductAttention},
    {bt_tf::kScaledDotProductAttentionOp, "CPU", &bt_tf::RegisterScaledDotProductAttentionCpu},
    {bt_tf::kScaledDotProductAttentionGradOp, nullptr, &bt_tf::DefineScaledDotProductAttentionGrad},
    {bt_tf::kScaledDotProductAttentionGradOp, "CPU", &bt_tf::RegisterScaledDotProductAttentionGradCpu},
    {bt_tf::kTransformerEncoderLayerOp, nullptr, &bt_tf::DefineTransformerEncoderLayer},
    {bt_tf::kTransformerEncoderLayerOp, "CPU", &bt_tf::RegisterTransformerEncoderLayerCpu},
    {bt_tf::kTransformerEncoderStackOp, nullptr, &bt_tf::DefineTransformerEncoderStack},
    {bt_tf::kTransformerEncoderStackOp, "CPU", &bt_tf::RegisterTransformerEncoderStackCpu},
    {bt_tf::kRmsNormOp, nullptr, &bt_tf::DefineRmsNorm},
    {bt_tf::kRmsNormOp, "CPU", &bt_tf::RegisterRmsNormCpu},
    {bt_tf::kRotaryEmbeddingOp, nullptr, &bt_tf::DefineRotaryEmbedding},
    {bt_tf::kRotaryEmbeddingOp, "CPU", &bt_tf::RegisterRotaryEmbeddingCpu},
    {bt_tf::kAttentionWithKVCacheOp, nullptr, &bt_tf::DefineAttentionWithKVCache},
    {bt_tf::kAttentionWithKVCacheOp, "CPU", &bt_tf::RegisterAttentionWithKVCacheCpu},
    {bt_tf::kTransformerDecoderStackOp, nullptr, &bt_tf::DefineTransformerDecoderStack},
    {bt_tf::kTransformerDecoderStackOp, "CPU", &bt_tf::RegisterTransformerDecoderStackCpu},
    {bt_tf::kReorderCacheOp, nullptr, &bt_tf::DefineReorderCache},
    {bt_tf::kReorderCacheOp, "CPU", &bt_tf::RegisterReorderCacheCpu},
    {bt_tf::kLayerNormOp, nullptr, &bt_tf::DefineLayerNorm},
    {bt_tf::kLayerNormOp, "CPU", &bt_tf::RegisterLayerNormCpu},
    {bt_tf::kEmbeddingSumOp, nullptr, &bt_tf::DefineEmbeddingSum},
    {bt_tf::kEmbeddingSumOp, "CPU", &bt_tf::RegisterEmbeddingSumCpu},
#ifdef BT_WITH_CUDA
    {bt_tf::kScaledDotProductAttentionOp, "GPU", &bt_tf::RegisterScaledDotProductAttentionGpu},
    {bt_tf::kScaledDotProductAttentionGradOp, "GPU", &bt_tf::RegisterScaledDotProductAttentionGradGpu},
    {bt_tf::kTransformerEncoderLayerOp, "GPU", &bt_tf::RegisterTransformerEncoderLayerGpu},
    {bt_tf::kTransformerEncoderStackOp, "GPU", &bt_tf::RegisterTransformerEncoderStackGpu},
    {bt_tf::kRmsNormOp, "GPU", &bt_tf::RegisterRmsNormGpu},
    {bt_tf::kRotaryEmbeddingOp, "GPU", &bt_tf::RegisterRotaryEmbeddingGpu},
    {bt_tf::kAttentionWithKVCacheOp, "GPU", &bt_tf::RegisterAttentionWithKVCacheGpu},
    {bt_tf::kTransformerDecoderStackOp, "GPU", &bt_tf::RegisterTransformerDecoderStackGpu},
    {bt_tf::kReorderCacheOp, "GPU", &bt_tf::RegisterReorderCacheGpu},
    {bt_tf::kLayerNormOp, "GPU", &bt_tf::RegisterLayerNormGpu},
    {bt_tf::kEmbeddingSumOp, "GPU", &bt_tf::RegisterEmbeddingSumGpu},
#endif
};

napi_value String(napi_env env, const char* text) {
  napi_value value;
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &value);
  return value;
}

napi_value Init(napi_env env, napi_value exports) {
  auto status = bt_tf::NewStatus();
  napi_value ops, kernels;
  napi_create_array(env, &ops);
  napi_create_array(env, &kernels);
  uint32_t num_ops = 0, num_kernels = 0;
  for (const OpRegistration& r : kRegistrations) {
    r.add(status.get());
    if (TF_GetCode(status.get()) != TF_OK) break;
    if (!r.device) {
      napi_set_element(env, ops, num_ops++, String(env, r.op));
    } else {
      napi_value kernel;
      napi_create_object(env, &kernel);
      napi_set_named_property(env, kernel, "op", String(env, r.op));
      napi_set_named_property(env, kernel, "device", String(env, r.device));
      napi_set_element(env, kernels, num_kernels++, kernel);
    }
  }
  const bool ok = TF_GetCode(status.get()) == TF_OK;
  napi_value ok_value;
  napi_get_boolean(env, ok, &ok_value);
  const std::string error = ok ? "" : TF_Message(status.get());
  napi_set_named_property(env, exports, "ok", ok_value);
  napi_set_named_property(env, exports, "error", String(env, error.c_str()));
  napi_set_named_property(env, exports, "ops", ops);
  napi_set_named_property(env, exports, "kernels", kernels);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
