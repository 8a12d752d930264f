// Node-API entry point of the TensorFlow op library. Loading it (after
// @tensorflow/tfjs-node, so that the same libtensorflow is already in the
// process) registers the ops and their CPU kernels with TensorFlow; tfjs-node
// can then run them by name. It exports what was registered, or the error.
#include <node_api.h>

#include <string>

#include "ops_registry.h"
#include "tf_helpers.h"

namespace {

napi_value Init(napi_env env, napi_value exports) {
  auto status = bt_tf::NewStatus();
  bt_tf::RegisterAttentionOps(status.get());
  if (TF_GetCode(status.get()) == TF_OK) bt_tf::RegisterEncoderLayerOp(status.get());
  if (TF_GetCode(status.get()) == TF_OK) bt_tf::RegisterEncoderStackOp(status.get());
#ifdef BT_WITH_CUDA
  if (TF_GetCode(status.get()) == TF_OK) bt_tf::RegisterGpuKernels(status.get());
#endif
  const bool ok = TF_GetCode(status.get()) == TF_OK;
  napi_value ok_value, error_value, ops;
  napi_get_boolean(env, ok, &ok_value);
  const std::string error = ok ? "" : TF_Message(status.get());
  napi_create_string_utf8(env, error.c_str(), error.size(), &error_value);
  napi_create_array(env, &ops);
  const char* names[] = {bt_tf::kAttentionOp, bt_tf::kAttentionGradOp, bt_tf::kEncoderLayerOp, bt_tf::kEncoderStackOp};
  for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); ++i) {
    napi_value name;
    napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &name);
    napi_set_element(env, ops, i, name);
  }
  napi_set_named_property(env, exports, "ok", ok_value);
  napi_set_named_property(env, exports, "error", error_value);
  napi_set_named_property(env, exports, "ops", ops);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
