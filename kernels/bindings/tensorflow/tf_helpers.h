// Small RAII and validation helpers over TensorFlow's C kernel API.
#ifndef TFJS_BT_TENSORFLOW_TF_HELPERS_H_
#define TFJS_BT_TENSORFLOW_TF_HELPERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tensorflow/c/kernels.h"
#include "tensorflow/c/tf_status.h"
#include "tensorflow/c/tf_tensor.h"

namespace bt_tf {

struct StatusDeleter {
  void operator()(TF_Status* s) const { TF_DeleteStatus(s); }
};
struct TensorDeleter {
  void operator()(TF_Tensor* t) const { TF_DeleteTensor(t); }
};
using StatusPtr = std::unique_ptr<TF_Status, StatusDeleter>;
using TensorPtr = std::unique_ptr<TF_Tensor, TensorDeleter>;

inline StatusPtr NewStatus() { return StatusPtr(TF_NewStatus()); }

// Thrown inside a compute function and turned into an InvalidArgument op failure.
struct InvalidArgument {
  std::string message;
};

inline std::vector<int64_t> ShapeOf(const TF_Tensor* t) {
  std::vector<int64_t> shape(TF_NumDims(t));
  for (size_t i = 0; i < shape.size(); ++i) shape[i] = TF_Dim(t, static_cast<int>(i));
  return shape;
}

inline std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

inline int64_t NumElements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Input i of the op, owned; the op fails with InvalidArgument on a wrong dtype.
inline TensorPtr Input(TF_OpKernelContext* ctx, int i, const char* name, TF_DataType dtype) {
  auto status = NewStatus();
  TF_Tensor* t = nullptr;
  TF_GetInput(ctx, i, &t, status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string(name) + ": " + TF_Message(status.get())};
  TensorPtr owned(t);
  if (dtype != static_cast<TF_DataType>(-1) && TF_TensorType(t) != dtype) {
    throw InvalidArgument{std::string(name) + " has the wrong dtype"};
  }
  return owned;
}

inline void RequireShape(const TF_Tensor* t, const std::vector<int64_t>& expected, const char* name) {
  if (ShapeOf(t) != expected) {
    throw InvalidArgument{std::string(name) + " must have shape " + ShapeString(expected) + ", got " +
                          ShapeString(ShapeOf(t))};
  }
}

inline TensorPtr Output(TF_OpKernelContext* ctx, int i, const std::vector<int64_t>& shape) {
  auto status = NewStatus();
  TF_Tensor* t = TF_AllocateOutput(ctx, i, TF_FLOAT, shape.data(), static_cast<int>(shape.size()),
                                   NumElements(shape) * sizeof(float), status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string("allocating output: ") + TF_Message(status.get())};
  return TensorPtr(t);
}

// Output i of `dtype` (int32 lengths, say).
inline TensorPtr OutputOf(TF_OpKernelContext* ctx, int i, const std::vector<int64_t>& shape, TF_DataType dtype) {
  auto status = NewStatus();
  TF_Tensor* t = TF_AllocateOutput(ctx, i, dtype, shape.data(), static_cast<int>(shape.size()),
                                   NumElements(shape) * static_cast<int64_t>(TF_DataTypeSize(dtype)), status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string("allocating output: ") + TF_Message(status.get())};
  return TensorPtr(t);
}

// Output i is input tensor `t` itself (its buffer, not a copy): an input updated in place.
inline void ForwardAsOutput(TF_OpKernelContext* ctx, int i, const TF_Tensor* t) {
  auto status = NewStatus();
  TF_SetOutput(ctx, i, t, status.get());
  if (TF_GetCode(status.get()) != TF_OK) throw InvalidArgument{std::string("setting output: ") + TF_Message(status.get())};
}

inline float* FloatData(TF_Tensor* t) { return static_cast<float*>(TF_TensorData(t)); }

// An int32 tensor's values copied out (host memory only: CPU kernels, HostMemory inputs of GPU kernels).
inline std::vector<int32_t> Int32Values(const TF_Tensor* t) {
  const int64_t n = TF_TensorElementCount(t);
  const auto* data = static_cast<const int32_t*>(TF_TensorData(t));
  return n > 0 ? std::vector<int32_t>(data, data + n) : std::vector<int32_t>();
}

// A tensor with no element: a [0]-shaped placeholder for an absent input.
inline bool IsPlaceholder(const TF_Tensor* t) { return TF_TensorElementCount(t) == 0; }

// A [B, S] key padding mask of dtype int32, bool or float as bytes (nonzero = real token).
inline std::vector<uint8_t> KeyValidity(const TF_Tensor* t) {
  const int64_t n = TF_TensorElementCount(t);
  std::vector<uint8_t> valid(n);
  const void* data = TF_TensorData(t);
  switch (TF_TensorType(t)) {
    case TF_INT32: for (int64_t i = 0; i < n; ++i) valid[i] = static_cast<const int32_t*>(data)[i] != 0; break;
    case TF_BOOL: for (int64_t i = 0; i < n; ++i) valid[i] = static_cast<const uint8_t*>(data)[i] != 0; break;
    case TF_FLOAT: for (int64_t i = 0; i < n; ++i) valid[i] = static_cast<const float*>(data)[i] != 0.f; break;
    default: throw InvalidArgument{"keyPaddingMask must have dtype int32, bool or float32"};
  }
  return valid;
}

// Runs a compute body, turning InvalidArgument into an op failure (never a crash).
template <typename Body>
void GuardedCompute(TF_OpKernelContext* ctx, Body body) {
  try {
    body();
  } catch (const InvalidArgument& e) {
    auto status = NewStatus();
    TF_SetStatus(status.get(), TF_INVALID_ARGUMENT, e.message.c_str());
    TF_OpKernelContext_Failure(ctx, status.get());
  } catch (const std::exception& e) {
    auto status = NewStatus();
    TF_SetStatus(status.get(), TF_INTERNAL, e.what());
    TF_OpKernelContext_Failure(ctx, status.get());
  }
}

// Attribute readers for kernel construction; a missing attribute aborts construction with an error.
struct AttrReader {
  TF_OpKernelConstruction* ctx;
  bool ok = true;
  float Float(const char* name) {
    float v = 0;
    auto s = NewStatus();
    TF_OpKernelConstruction_GetAttrFloat(ctx, name, &v, s.get());
    Check(s.get());
    return v;
  }
  bool Bool(const char* name) {
    TF_Bool v = 0;
    auto s = NewStatus();
    TF_OpKernelConstruction_GetAttrBool(ctx, name, &v, s.get());
    Check(s.get());
    return v != 0;
  }
  int32_t Int(const char* name) {
    int32_t v = 0;
    auto s = NewStatus();
    TF_OpKernelConstruction_GetAttrInt32(ctx, name, &v, s.get());
    Check(s.get());
    return v;
  }
  // A list attribute of `expected` entries (list(float) / list(bool)).
  std::vector<float> FloatList(const char* name, int32_t expected) {
    std::vector<float> v(static_cast<size_t>(expected > 0 ? expected : 0));
    if (ListSize(name, expected)) {
      auto s = NewStatus();
      TF_OpKernelConstruction_GetAttrFloatList(ctx, name, v.data(), expected, s.get());
      Check(s.get());
    }
    return v;
  }
  std::vector<bool> BoolList(const char* name, int32_t expected) {
    std::vector<TF_Bool> raw(static_cast<size_t>(expected > 0 ? expected : 0));
    if (ListSize(name, expected)) {
      auto s = NewStatus();
      TF_OpKernelConstruction_GetAttrBoolList(ctx, name, raw.data(), expected, s.get());
      Check(s.get());
    }
    return std::vector<bool>(raw.begin(), raw.end());
  }
  bool ListSize(const char* name, int32_t expected) {
    int32_t list_size = 0, total = 0;
    auto s = NewStatus();
    TF_OpKernelConstruction_GetAttrSize(ctx, name, &list_size, &total, s.get());
    if (!Check(s.get())) return false;
    if (list_size != expected) {
      TF_SetStatus(s.get(), TF_INVALID_ARGUMENT,
                   (std::string(name) + " must have " + std::to_string(expected) + " entries").c_str());
      Check(s.get());
      return false;
    }
    return expected > 0;
  }
  std::string String(const char* name) {
    int32_t list_size = 0, total = 0;
    auto s = NewStatus();
    TF_OpKernelConstruction_GetAttrSize(ctx, name, &list_size, &total, s.get());
    if (!Check(s.get())) return "";
    std::string v(static_cast<size_t>(total), '\0');
    TF_OpKernelConstruction_GetAttrString(ctx, name, v.data(), v.size(), s.get());
    Check(s.get());
    return v;
  }
  bool Check(TF_Status* s) {
    if (TF_GetCode(s) == TF_OK) return true;
    if (ok) TF_OpKernelConstruction_Failure(ctx, s);
    ok = false;
    return false;
  }
};

// Fails an op kernel's construction with INVALID_ARGUMENT (a bad attribute value).
inline void FailConstruction(TF_OpKernelConstruction* ctx, const std::string& message) {
  auto s = NewStatus();
  TF_SetStatus(s.get(), TF_INVALID_ARGUMENT, message.c_str());
  TF_OpKernelConstruction_Failure(ctx, s.get());
}

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_TF_HELPERS_H_
