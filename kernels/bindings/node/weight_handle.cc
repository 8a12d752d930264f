#include "weight_handle.h"

#include <sstream>

#include "../../shared/problem_checks.h"

namespace btk_addon {
namespace {

// Random constant identifying tfjs-better-transformer packed-weight handles.
const napi_type_tag kWeightHandleTag = {0x8f3a61c2d94be705ULL, 0x2c7d15e8b06f93a1ULL};

struct WeightHandle {
  btk_packed_weight* packed;
  int64_t bytes;
};

void free_handle(Napi::Env env, WeightHandle* handle) {
  if (handle->packed) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -handle->bytes);
    btk_free_packed_weight(handle->packed);
  }
  delete handle;
}

WeightHandle* handle_of(const ArgReader& args, Napi::Value value, const std::string& name) {
  bool tagged = false;
  if (value.IsExternal()) napi_check_object_type_tag(args.env(), value, &kWeightHandleTag, &tagged);
  if (!tagged) args.type_error(name + " must be a weight handle from packWeight() or a Float32Array");
  WeightHandle* handle = value.As<Napi::External<WeightHandle>>().Data();
  if (!handle->packed) args.type_error(name + " was released with releaseWeight()");
  return handle;
}

}  // namespace

Napi::Value new_weight_handle(Napi::Env env, btk_packed_weight* packed) {
  WeightHandle* handle = new WeightHandle{packed, btk_packed_weight_bytes(packed)};
  Napi::External<WeightHandle> external = Napi::External<WeightHandle>::New(env, handle, free_handle);
  NAPI_THROW_IF_FAILED(env, napi_type_tag_object(env, external, &kWeightHandleTag), Napi::Value());
  // Tell V8 how much native memory the handle keeps alive, so GC pressure is realistic.
  Napi::MemoryManagement::AdjustExternalMemory(env, handle->bytes);
  return external;
}

void release_weight_handle(const ArgReader& args, Napi::Value value, const char* name) {
  WeightHandle* handle = handle_of(args, value, name);
  Napi::MemoryManagement::AdjustExternalMemory(args.env(), -handle->bytes);
  btk_free_packed_weight(handle->packed);
  handle->packed = nullptr;
}

WeightArgument::WeightArgument(const ArgReader& args, const char* name, int64_t rows, int64_t cols) {
  const std::string qualified = args.qualified(name);
  if (!args.has(name)) args.type_error(qualified + " is required (a weight handle or Float32Array)");
  const Napi::Value value = args.get(name);
  std::ostringstream expected;
  name_ = qualified;
  if (value.IsExternal()) {
    handle_ = value;
    packed_ = handle_of(args, value, qualified)->packed;
    const int64_t got_rows = btk_packed_weight_rows(packed_), got_cols = btk_packed_weight_cols(packed_);
    if (got_rows != rows || (cols >= 0 && got_cols != cols)) {
      expected << qualified << " is a packed [" << got_rows << ", " << got_cols << "] weight, expected [" << rows << ", "
               << (cols >= 0 ? std::to_string(cols) : std::string("*")) << "]";
      args.range_error(expected.str());
    }
    return;
  }
  int64_t length = 0;
  if (!value.IsTypedArray()) args.type_error(qualified + " must be a weight handle from packWeight() or a Float32Array");
  const float* data = args.float32_any(name, &length);
  if (cols < 0) {
    if (rows == 0 || length % rows != 0 || length == 0) {
      expected << qualified << " has " << length << " elements, not a positive multiple of its " << rows << " rows";
      args.range_error(expected.str());
    }
    cols = length / rows;
  } else {
    int64_t count = 0;
    const bool fits = bt_checks::CheckedMul(rows, cols, &count);
    if (!fits || length != count) {
      expected << qualified << " has " << length << " elements, expected " << rows << "*" << cols;
      if (fits) expected << " = " << count;
      args.range_error(expected.str());
    }
  }
  owned_.reset(btk_pack_weight(data, rows, cols));
  if (!owned_) throw Napi::Error::New(args.env(), "out of memory packing " + qualified);
  packed_ = owned_.get();
}

InPlaceWeight::InPlaceWeight(const ArgReader& args, const char* name, int64_t in, int64_t out, bool transposed,
                             bool optional) {
  name_ = args.qualified(name);
  if (!args.has(name)) {
    if (!optional) args.type_error(name_ + " is required (a Float32Array or a weight handle)");
    return;
  }
  weight_.in_dim = in;
  weight_.out_dim = out;
  weight_.transposed = transposed ? 1 : 0;
  const Napi::Value value = args.get(name);
  std::ostringstream message;
  if (value.IsExternal()) {
    handle_ = value;
    const btk_packed_weight* packed = handle_of(args, value, name_)->packed;
    // A handle holds the [in, out] weight packed (a transposed one was transposed as it was packed).
    if (btk_packed_weight_rows(packed) != in || btk_packed_weight_cols(packed) != out) {
      message << name_ << " is a packed [" << btk_packed_weight_rows(packed) << ", " << btk_packed_weight_cols(packed)
              << "] weight, expected [" << in << ", " << out << "]";
      args.range_error(message.str());
    }
    weight_.packed = packed;
    return;
  }
  if (!value.IsTypedArray()) args.type_error(name_ + " must be a Float32Array or a weight handle");
  int64_t length = 0, count = 0;
  const float* data = args.float32_any(name, &length);
  if (!bt_checks::CheckedMul(in, out, &count) || length != count) {
    message << name_ << " has " << length << " elements, expected " << in << "*" << out;
    args.range_error(message.str());
  }
  weight_.data = data;
}

void InPlaceWeight::check_still_valid(const ArgReader& args) const {
  if (!handle_.IsEmpty() && handle_of(args, handle_, name_)->packed != weight_.packed)
    args.type_error(name_ + " was released while the arguments were read");
}

void WeightArgument::check_still_valid(const ArgReader& args) const {
  if (!handle_.IsEmpty() && handle_of(args, handle_, name_)->packed != packed_)
    args.type_error(name_ + " was released while the arguments were read");
}

}  // namespace btk_addon
