// Reading and validating JavaScript arguments before any native memory is
// touched: every typed array's kind and length is checked against the shapes,
// every dimension against its range, and a failure throws a JavaScript Error
// naming the argument (never a crash).
#ifndef TFJS_BT_ADDON_ARGS_H_
#define TFJS_BT_ADDON_ARGS_H_

#include <napi.h>

#include <cstdint>
#include <string>

namespace bt_addon {

class Args {
 public:
  Args(const Napi::CallbackInfo& info, const char* fn) : env_(info.Env()), fn_(fn) {
    if (info.Length() != 1 || !info[0].IsObject()) Fail("expects one options object");
    obj_ = info[0].As<Napi::Object>();
  }

  [[noreturn]] void Fail(const std::string& message) const {
    throw Napi::Error::New(env_, std::string(fn_) + ": " + message);
  }

  // A non-negative integer dimension (at most 2^40, far beyond any real tensor).
  int64_t Dim(const char* name, int64_t min = 0) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsNumber()) Fail(std::string(name) + " must be a number");
    const double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= static_cast<double>(min)) || d > 1099511627776.0 || d != static_cast<double>(static_cast<int64_t>(d))) {
      Fail(std::string(name) + " must be an integer >= " + std::to_string(min));
    }
    return static_cast<int64_t>(d);
  }

  float Float(const char* name) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsNumber()) Fail(std::string(name) + " must be a number");
    return v.As<Napi::Number>().FloatValue();
  }

  bool Bool(const char* name) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsBoolean()) Fail(std::string(name) + " must be a boolean");
    return v.As<Napi::Boolean>().Value();
  }

  std::string String(const char* name) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsString()) Fail(std::string(name) + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }

  bool Has(const char* name) const {
    Napi::Value v = obj_.Get(name);
    return !v.IsUndefined() && !v.IsNull();
  }

  // A Float32Array of exactly `elements` elements.
  float* Floats(const char* name, int64_t elements) const { return Typed<float>(name, napi_float32_array, elements); }

  // A Uint8Array of exactly `elements` elements.
  const uint8_t* Bytes(const char* name, int64_t elements) const {
    return Typed<uint8_t>(name, napi_uint8_array, elements);
  }

  // An optional prepacked weight made by packWeight(): an External carrying this
  // addon's type tag (anything else is refused) whose shape must be rows x cols.
  template <typename T>
  const T* OptionalExternal(const char* name, const napi_type_tag& tag, int64_t rows, int64_t cols) const {
    if (!Has(name)) return nullptr;
    Napi::Value v = obj_.Get(name);
    if (!v.IsExternal() || !v.As<Napi::Object>().CheckTypeTag(&tag)) {
      Fail(std::string(name) + " must be a handle returned by packWeight()");
    }
    const T* packed = v.As<Napi::External<T>>().Data();
    if (packed->rows() != rows || packed->cols() != cols) {
      Fail(std::string(name) + " was packed from a [" + std::to_string(packed->rows()) + ", " +
           std::to_string(packed->cols()) + "] weight, expected [" + std::to_string(rows) + ", " + std::to_string(cols) +
           "]");
    }
    return packed;
  }

  // Product of dimensions, refusing anything past 2^40 elements.
  int64_t Product(std::initializer_list<int64_t> dims) const {
    double p = 1;
    int64_t q = 1;
    for (int64_t d : dims) {
      p *= static_cast<double>(d);
      q *= d;
    }
    if (p > 1099511627776.0) Fail("tensor sizes overflow");
    return q;
  }

 private:
  template <typename T>
  T* Typed(const char* name, napi_typedarray_type type, int64_t elements) const {
    Napi::Value v = obj_.Get(name);
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
      Fail(std::string(name) + (type == napi_float32_array ? " must be a Float32Array" : " must be a Uint8Array"));
    }
    auto array = v.As<Napi::TypedArray>();
    if (static_cast<int64_t>(array.ElementLength()) != elements) {
      Fail(std::string(name) + " has " + std::to_string(array.ElementLength()) + " elements, expected " +
           std::to_string(elements));
    }
    return reinterpret_cast<T*>(static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
  }

  Napi::Env env_;
  const char* fn_;
  Napi::Object obj_;
};

}  // namespace bt_addon

#endif  // TFJS_BT_ADDON_ARGS_H_
