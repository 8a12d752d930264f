// Reads and validates the fields of the single options object every addon
// function takes. Every check happens before any native code touches memory;
// a failure throws a JavaScript TypeError/RangeError whose message starts with
// the function name and names the offending argument, e.g.
//   "scaledDotProductAttention: q has 10 elements, expected B*H*Sq*D = 12".
#ifndef BTK_ADDON_ARG_READER_H_
#define BTK_ADDON_ARG_READER_H_

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace btk_addon {

// Dimensions and counts are limited so that every product of a few of them
// stays exact in both int64 and a JavaScript number.
constexpr int64_t kMaxDimension = (int64_t(1) << 31) - 1;
constexpr int64_t kMaxElements = int64_t(1) << 50;
// Layers of one transformerEncoderStack call.
constexpr uint32_t kMaxLayers = 100000;

struct ByteRange {
  std::string name;
  uintptr_t begin, end;
  Napi::TypedArray array;  // to re-check, just before native code runs, that it still has this memory
};

class ArgReader {
 public:
  // info[0] must be an object; `function` prefixes every error message.
  ArgReader(const Napi::CallbackInfo& info, const char* function);
  // No options object (functions taking positional arguments): for errors only.
  ArgReader(Napi::Env env, const char* function);
  // A nested object field (e.g. layers[2]); its errors read "function: prefix.field ...".
  ArgReader(const ArgReader& parent, Napi::Object object, std::string prefix);

  Napi::Env env() const { return env_; }
  const Napi::Object& object() const { return object_; }
  bool has(const char* name) const;
  Napi::Value get(const char* name) const;

  [[noreturn]] void type_error(const std::string& message) const;
  [[noreturn]] void range_error(const std::string& message) const;
  std::string qualified(const char* name) const { return prefix_ + name; }

  // A non-negative integer <= kMaxDimension (required, or `fallback` when absent).
  int64_t dimension(const char* name) const;
  int64_t dimension_or(const char* name, int64_t fallback) const;
  double number_or(const char* name, double fallback) const;
  bool boolean_or(const char* name, bool fallback) const;
  std::string string_or(const char* name, const std::string& fallback) const;

  // Product of the values, failing (naming `formula`) past kMaxElements.
  int64_t product(std::initializer_list<int64_t> values, const char* formula) const;

  // A Float32Array / Uint8Array field with exactly `expected` elements
  // (`formula` explains the count in the error). Optional ones return null when
  // absent (undefined or null). Outputs are recorded for the overlap check.
  float* float32(const char* name, int64_t expected, const std::string& formula, bool optional = false,
                 bool is_output = false) const;
  const uint8_t* uint8(const char* name, int64_t expected, const std::string& formula, bool optional = false) const;
  // An Int32Array field with exactly `expected` elements (ids, lengths); outputs are recorded too.
  int32_t* int32(const char* name, int64_t expected, const std::string& formula, bool is_output = false) const;
  // A Float32Array of any length (its length is returned through `length`).
  float* float32_any(const char* name, int64_t* length, bool is_output = false) const;

  // The last check before native code runs: outputs must not overlap each other
  // or any input, and no array may have changed (a getter run while reading
  // later fields could have detached or resized an earlier one's buffer).
  void check_arrays_before_use() const;

 private:
  void record(const char* name, const Napi::TypedArray& array, const void* data, size_t bytes, bool is_output) const;

  Napi::Env env_;
  std::string function_;
  std::string prefix_;
  Napi::Object object_;
  // Shared with nested readers so one overlap check covers the whole call.
  std::vector<ByteRange>* inputs_;
  std::vector<ByteRange>* outputs_;
  std::vector<ByteRange> own_inputs_, own_outputs_;
};

}  // namespace btk_addon

#endif  // BTK_ADDON_ARG_READER_H_
