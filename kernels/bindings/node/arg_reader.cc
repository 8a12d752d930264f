#include "arg_reader.h"

#include <cstring>

#include <cmath>
#include <sstream>

#include "../../shared/problem_checks.h"

namespace btk_addon {

ArgReader::ArgReader(const Napi::CallbackInfo& info, const char* function)
    : env_(info.Env()), function_(function), inputs_(&own_inputs_), outputs_(&own_outputs_) {
  if (info.Length() < 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray())
    throw Napi::TypeError::New(env_, function_ + ": expected one options object");
  object_ = info[0].As<Napi::Object>();
}

ArgReader::ArgReader(Napi::Env env, const char* function)
    : env_(env), function_(function), object_(Napi::Object::New(env)), inputs_(&own_inputs_), outputs_(&own_outputs_) {}

ArgReader::ArgReader(const ArgReader& parent, Napi::Object object, std::string prefix)
    : env_(parent.env_),
      function_(parent.function_),
      prefix_(std::move(prefix)),
      object_(object),
      inputs_(parent.inputs_),
      outputs_(parent.outputs_) {}

bool ArgReader::has(const char* name) const {
  const Napi::Value value = object_.Get(name);
  return !value.IsUndefined() && !value.IsNull();
}

Napi::Value ArgReader::get(const char* name) const { return object_.Get(name); }

void ArgReader::type_error(const std::string& message) const {
  throw Napi::TypeError::New(env_, function_ + ": " + message);
}

void ArgReader::range_error(const std::string& message) const {
  throw Napi::RangeError::New(env_, function_ + ": " + message);
}

int64_t ArgReader::dimension(const char* name) const {
  if (!has(name)) type_error(qualified(name) + " is required (a non-negative integer)");
  return dimension_or(name, 0);
}

int64_t ArgReader::dimension_or(const char* name, int64_t fallback) const {
  if (!has(name)) return fallback;
  const Napi::Value value = get(name);
  if (!value.IsNumber()) type_error(qualified(name) + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number) || number < 0 ||
      number > static_cast<double>(kMaxDimension)) {
    std::ostringstream message;
    message << qualified(name) << " must be an integer in [0, " << kMaxDimension << "], got " << number;
    range_error(message.str());
  }
  return static_cast<int64_t>(number);
}

double ArgReader::number_or(const char* name, double fallback) const {
  if (!has(name)) return fallback;
  const Napi::Value value = get(name);
  if (!value.IsNumber()) type_error(qualified(name) + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

bool ArgReader::boolean_or(const char* name, bool fallback) const {
  if (!has(name)) return fallback;
  const Napi::Value value = get(name);
  if (!value.IsBoolean()) type_error(qualified(name) + " must be a boolean");
  return value.As<Napi::Boolean>().Value();
}

std::string ArgReader::string_or(const char* name, const std::string& fallback) const {
  if (!has(name)) return fallback;
  const Napi::Value value = get(name);
  if (!value.IsString()) type_error(qualified(name) + " must be a string");
  return value.As<Napi::String>().Utf8Value();
}

int64_t ArgReader::product(std::initializer_list<int64_t> values, const char* formula) const {
  int64_t result = 0;
  if (!bt_checks::CheckedProduct(values, &result) || result > kMaxElements)
    range_error(std::string(formula) + " is too large");
  return result;
}

void ArgReader::record(const char* name, const Napi::TypedArray& array, const void* data, size_t bytes,
                       bool is_output) const {
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data);
  (is_output ? outputs_ : inputs_)->push_back(ByteRange{qualified(name), begin, begin + bytes, array});
}

// The array's memory as V8 sees it now: napi_get_typedarray_info reads the
// live length and address (a TypedArray wrapper caches what it saw when made,
// and a resizable ArrayBuffer may have shrunk since). It does not go through
// the ArrayBuffer object, so SharedArrayBuffer-backed arrays work too.
static bool live_extent(napi_env env, const Napi::TypedArray& array, uintptr_t* begin, size_t* bytes) {
  napi_typedarray_type type;
  size_t length = 0, offset = 0;
  void* data = nullptr;
  napi_value buffer = nullptr;
  if (napi_get_typedarray_info(env, array, &type, &length, &data, &buffer, &offset) != napi_ok) return false;
  size_t element = 1;
  switch (type) {
    case napi_float32_array: element = sizeof(float); break;
    case napi_uint8_array: element = 1; break;
    case napi_int32_array: element = sizeof(int32_t); break;
    default: return false;
  }
  *begin = reinterpret_cast<uintptr_t>(data);
  *bytes = length * element;
  // Belt and braces for a (non-shared) buffer: the view must lie inside the
  // buffer's current bytes. A SharedArrayBuffer can only grow.
  bool is_buffer = false;
  if (buffer && napi_is_arraybuffer(env, buffer, &is_buffer) == napi_ok && is_buffer) {
    bool detached = false;
    void* base = nullptr;
    size_t buffer_bytes = 0;
    if (napi_is_detached_arraybuffer(env, buffer, &detached) != napi_ok || detached) *bytes = 0;
    else if (napi_get_arraybuffer_info(env, buffer, &base, &buffer_bytes) != napi_ok || offset > buffer_bytes ||
             *bytes > buffer_bytes - offset)
      return false;
  }
  return true;
}

// The field `name` as a typed array of `kind`, with its live address and element count.
static Napi::TypedArray typed_array_of_kind(const ArgReader& args, const char* name, napi_typedarray_type kind,
                                            const char* kind_name, void** data, int64_t* length) {
  const Napi::Value value = args.get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != kind)
    args.type_error(args.qualified(name) + " must be " + (std::strchr("AEIOU", kind_name[0]) ? "an " : "a ") + kind_name);
  const Napi::TypedArray array = value.As<Napi::TypedArray>();
  uintptr_t begin = 0;
  size_t bytes = 0;
  if (!live_extent(args.env(), array, &begin, &bytes)) args.type_error(args.qualified(name) + " cannot be read");
  *data = reinterpret_cast<void*>(begin);
  *length = static_cast<int64_t>(bytes / (kind == napi_uint8_array ? 1 : 4));
  return array;
}

float* ArgReader::float32(const char* name, int64_t expected, const std::string& formula, bool optional,
                          bool is_output) const {
  if (!has(name)) {
    if (optional) return nullptr;
    type_error(qualified(name) + " is required (a Float32Array)");
  }
  void* data = nullptr;
  int64_t length = 0;
  const Napi::TypedArray array = typed_array_of_kind(*this, name, napi_float32_array, "Float32Array", &data, &length);
  if (length != expected) {
    std::ostringstream message;
    message << qualified(name) << " has " << length << " elements, expected " << formula << " = " << expected;
    range_error(message.str());
  }
  record(name, array, data, static_cast<size_t>(length) * sizeof(float), is_output);
  return static_cast<float*>(data);
}

float* ArgReader::float32_any(const char* name, int64_t* length, bool is_output) const {
  if (!has(name)) type_error(qualified(name) + " is required (a Float32Array)");
  void* data = nullptr;
  const Napi::TypedArray array = typed_array_of_kind(*this, name, napi_float32_array, "Float32Array", &data, length);
  record(name, array, data, static_cast<size_t>(*length) * sizeof(float), is_output);
  return static_cast<float*>(data);
}

const uint8_t* ArgReader::uint8(const char* name, int64_t expected, const std::string& formula, bool optional) const {
  if (!has(name)) {
    if (optional) return nullptr;
    type_error(qualified(name) + " is required (a Uint8Array)");
  }
  void* data = nullptr;
  int64_t length = 0;
  const Napi::TypedArray array = typed_array_of_kind(*this, name, napi_uint8_array, "Uint8Array", &data, &length);
  if (length != expected) {
    std::ostringstream message;
    message << qualified(name) << " has " << length << " elements, expected " << formula << " = " << expected;
    range_error(message.str());
  }
  record(name, array, data, static_cast<size_t>(length), false);
  return static_cast<const uint8_t*>(data);
}

int32_t* ArgReader::int32(const char* name, int64_t expected, const std::string& formula, bool is_output) const {
  if (!has(name)) type_error(qualified(name) + " is required (an Int32Array)");
  void* data = nullptr;
  int64_t length = 0;
  const Napi::TypedArray array = typed_array_of_kind(*this, name, napi_int32_array, "Int32Array", &data, &length);
  if (length != expected) {
    std::ostringstream message;
    message << qualified(name) << " has " << length << " elements, expected " << formula << " = " << expected;
    range_error(message.str());
  }
  record(name, array, data, static_cast<size_t>(length) * sizeof(int32_t), is_output);
  return static_cast<int32_t*>(data);
}

void ArgReader::check_arrays_before_use() const {
  for (const auto* list : {inputs_, outputs_})
    for (const ByteRange& range : *list) {
      uintptr_t begin = 0;
      size_t bytes = 0;
      if (!live_extent(env_, range.array, &begin, &bytes) || bytes != range.end - range.begin ||
          (bytes > 0 && begin != range.begin))
        type_error(range.name + " changed (detached or resized) while the arguments were read");
    }
  auto overlap = [](const ByteRange& a, const ByteRange& b) {
    return a.begin < b.end && b.begin < a.end && a.begin != a.end && b.begin != b.end;
  };
  for (size_t i = 0; i < outputs_->size(); ++i) {
    for (size_t j = i + 1; j < outputs_->size(); ++j)
      if (overlap((*outputs_)[i], (*outputs_)[j]))
        type_error((*outputs_)[i].name + " and " + (*outputs_)[j].name + " share memory");
    for (const ByteRange& input : *inputs_)
      if (overlap((*outputs_)[i], input))
        type_error((*outputs_)[i].name + " shares memory with the input " + input.name);
  }
}

}  // namespace btk_addon
