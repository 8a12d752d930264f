// Packed weights as JavaScript values: a type-tagged External owning a
// btk_packed_weight (float32 panels or a bfloat16 copy), freed by the garbage
// collector (or early by releaseWeight).
// The tag makes sure an arbitrary External from another addon is never
// mistaken for one of ours.
#ifndef BTK_ADDON_WEIGHT_HANDLE_H_
#define BTK_ADDON_WEIGHT_HANDLE_H_

#include <napi.h>

#include <memory>

#include "../../include/btk.h"
#include "arg_reader.h"

namespace btk_addon {

Napi::Value new_weight_handle(Napi::Env env, btk_packed_weight* packed);

// Frees the native memory now; later uses of the handle throw.
void release_weight_handle(const ArgReader& args, Napi::Value value, const char* name);

// A weight argument: a handle from packWeight, or a Float32Array packed just
// for this call. Shapes are checked against rows x cols (cols < 0: any, taken
// from the handle or from the array length / rows).
class WeightArgument {
 public:
  WeightArgument(const ArgReader& args, const char* name, int64_t rows, int64_t cols);
  const btk_packed_weight* get() const { return packed_; }
  int64_t cols() const { return btk_packed_weight_cols(packed_); }
  // Throws if the handle was released (by a getter run while later arguments were read).
  void check_still_valid(const ArgReader& args) const;

 private:
  const btk_packed_weight* packed_ = nullptr;
  std::string name_;
  Napi::Value handle_;  // a local handle: keeps the External alive for the whole call
  std::unique_ptr<btk_packed_weight, void (*)(btk_packed_weight*)> owned_{nullptr, btk_free_packed_weight};
};

// A weight the decoder reads in place: a Float32Array of in*out elements
// (row-major [in][out], or [out][in] when `transposed`) that is never copied,
// or a handle from packWeight/packWeightBf16 of the [in, out] weight. Absent:
// an empty btk_weight when optional.
class InPlaceWeight {
 public:
  InPlaceWeight(const ArgReader& args, const char* name, int64_t in, int64_t out, bool transposed, bool optional);
  const btk_weight& get() const { return weight_; }
  void check_still_valid(const ArgReader& args) const;

 private:
  btk_weight weight_{};
  std::string name_;
  Napi::Value handle_;
};

}  // namespace btk_addon

#endif  // BTK_ADDON_WEIGHT_HANDLE_H_
