#include "arg_reader.h"

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

static Napi::TypedArray typed_array_of_kind(const ArgReader& args, const char* name, napi_typedarray_type kind,
                                            const char* kind_name) {
  const Napi::Value value = args.get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != kind)
    args.type_error(args.qualified(name) + " must be a " + kind_name);
  return value.As<Napi::TypedArray>();
}

float* ArgReader::float32(const char* name, int64_t expected, const std::string& formula, bool optional,
                          bool is_output) const {
  if (!has(name)) {
    if (optional) return nullptr;
    type_error(qualified(name) + " is required (a Float32Array)");
  }
  Napi::Float32Array array = typed_array_of_kind(*this, name, napi_float32_array, "Float32Array").As<Napi::Float32Array>();
  const int64_t length = static_cast<int64_t>(array.ElementLength());
  if (length != expected) {
    std::ostringstream message;
    message << qualified(name) << " has " << length << " elements, expected " << formula << " = " << expected;
    range_error(message.str());
  }
  record(name, array, array.Data(), static_cast<size_t>(length) * sizeof(float), is_output);
  return array.Data();
}

float* ArgReader::float32_any(const char* name, int64_t* length, bool is_output) const {
  if (!has(name)) type_error(qualified(name) + " is required (a Float32Array)");
  Napi::Float32Array array = typed_array_of_kind(*this, name, napi_float32_array, "Float32Array").As<Napi::Float32Array>();
  *length = static_cast<int64_t>(array.ElementLength());
  record(name, array, array.Data(), static_cast<size_t>(*length) * sizeof(float), is_output);
  return array.Data();
}

const uint8_t* ArgReader::uint8(const char* name, int64_t expected, const std::string& formula, bool optional) const {
  if (!has(name)) {
    if (optional) return nullptr;
    type_error(qualified(name) + " is required (a Uint8Array)");
  }
  Napi::Uint8Array array = typed_array_of_kind(*this, name, napi_uint8_array, "Uint8Array").As<Napi::Uint8Array>();
  const int64_t length = static_cast<int64_t>(array.ElementLength());
  if (length != expected) {
    std::ostringstream message;
    message << qualified(name) << " has " << length << " elements, expected " << formula << " = " << expected;
    range_error(message.str());
  }
  record(name, array, array.Data(), static_cast<size_t>(length), false);
  return array.Data();
}

static uintptr_t current_begin(const Napi::TypedArray& array) {
  return reinterpret_cast<uintptr_t>(static_cast<uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset());
}

void ArgReader::check_arrays_before_use() const {
  for (const auto* list : {inputs_, outputs_})
    for (const ByteRange& range : *list) {
      const size_t bytes = range.array.ByteLength();
      if (bytes != range.end - range.begin || (bytes > 0 && current_begin(range.array) != range.begin))
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
