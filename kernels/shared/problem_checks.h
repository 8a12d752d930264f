// The argument checks the native front ends share: the CPU core's C ABI
// (kernels/core/api.cc), the Node-API addon (kernels/bindings/node), the
// TensorFlow op library (kernels/bindings/tensorflow) and the CUDA ABI
// (kernels/cuda/bt_cuda_api.cu). One rule, one implementation: a front end
// cannot accept what another rejects by a drifted copy.
//
// Every check returns an error message, empty when the arguments are fine, so
// each front end reports it in its own way (a JavaScript RangeError prefixed
// with the function, a TensorFlow InvalidArgument, a CUDA status with
// bt_cuda_last_error, a btk_status). Messages name sizes as the API documents
// them: q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv], x [B, S, E].
//
// Header-only C++17 with no dependency beyond the standard library, and no
// compiler builtins, so that g++ and nvcc (host code) both compile it.
#ifndef BT_SHARED_PROBLEM_CHECKS_H_
#define BT_SHARED_PROBLEM_CHECKS_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

namespace bt_checks {

// ---- overflow-checked counts ----

// a * b for a, b >= 0; false when the product does not fit in int64.
inline bool CheckedMul(int64_t a, int64_t b, int64_t* out) {
  if (a != 0 && b > std::numeric_limits<int64_t>::max() / a) return false;
  *out = a * b;
  return true;
}

// a + b for a, b >= 0; false when the sum does not fit in int64.
inline bool CheckedAdd(int64_t a, int64_t b, int64_t* out) {
  if (b > std::numeric_limits<int64_t>::max() - a) return false;
  *out = a + b;
  return true;
}

// The product of non-negative counts (an element count); false when it does
// not fit in int64. A zero count makes it 0 whatever the others are: an empty
// tensor with huge other dimensions has no element to address.
inline bool CheckedProduct(std::initializer_list<int64_t> values, int64_t* out) {
  for (int64_t v : values) {
    if (v == 0) {
      *out = 0;
      return true;
    }
  }
  int64_t result = 1;
  for (int64_t v : values) {
    if (v < 0 || !CheckedMul(result, v, &result)) return false;
  }
  *out = result;
  return true;
}

inline std::string ShapeString(const int64_t* dims, size_t rank) {
  std::string s = "[";
  for (size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

inline std::string ShapeString(const std::vector<int64_t>& shape) { return ShapeString(shape.data(), shape.size()); }

// ---- attention ----

// q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv]; query head h reads kv head h / (H / Hkv).
struct AttentionDims {
  int64_t batch, heads, kv_heads, q_len, kv_len, head_dim, value_dim;
};

// Sizes non-negative and Hkv a positive divisor of H (when H > 0). With
// `require_heads_and_depth`, also H >= 1 and D >= 1: the TensorFlow ops and the
// GPU kernels need them; the CPU core takes H = 0 or D = 0 as an empty problem.
inline std::string AttentionDimsError(const AttentionDims& d, bool require_heads_and_depth) {
  const struct {
    const char* name;
    int64_t value;
  } sizes[] = {{"B", d.batch},   {"H", d.heads},       {"Hkv", d.kv_heads}, {"Sq", d.q_len},
               {"Sk", d.kv_len}, {"D", d.head_dim}, {"Dv", d.value_dim}};
  for (const auto& s : sizes) {
    if (s.value < 0) return std::string(s.name) + " (" + std::to_string(s.value) + ") must be non-negative";
  }
  if (require_heads_and_depth && d.heads < 1) return "H (" + std::to_string(d.heads) + ") must be at least 1";
  if (d.heads > 0 && (d.kv_heads < 1 || d.heads % d.kv_heads != 0)) {
    return "Hkv (" + std::to_string(d.kv_heads) + ") must be a positive divisor of H (" + std::to_string(d.heads) + ")";
  }
  if (require_heads_and_depth && d.head_dim < 1) return "D (" + std::to_string(d.head_dim) + ") must be at least 1";
  return {};
}

// q, k and v as tensors: rank 4 each, with the batch, kv heads, key length and
// depth they share agreeing. Fills `dims` from them (not checked otherwise:
// AttentionDimsError does that).
inline std::string AttentionShapesError(const std::vector<int64_t>& q, const std::vector<int64_t>& k,
                                        const std::vector<int64_t>& v, AttentionDims* dims) {
  if (q.size() != 4 || k.size() != 4 || v.size() != 4) return "q, k and v must have rank 4";
  if (k[0] != q[0] || v[0] != q[0] || k[3] != q[3] || v[1] != k[1] || v[2] != k[2]) {
    return "q " + ShapeString(q) + ", k " + ShapeString(k) + " and v " + ShapeString(v) + " do not agree";
  }
  *dims = AttentionDims{q[0], q[1], k[1], q[2], k[2], q[3], v[3]};
  return {};
}

// ---- attention masks ----

// The element strides that broadcast a contiguous mask of `shape` to
// [B, H, Sq, Sk] = `target` (numpy rules: right-aligned, rank <= 4, each size 1
// or the target's); 0 strides the broadcast dimensions. `name` is the mask's
// name in the message.
inline std::string MaskBroadcastStrides(const std::vector<int64_t>& shape, const int64_t target[4], int64_t strides[4],
                                        const std::string& name) {
  if (shape.size() > 4) return name + " has rank above 4";
  for (int d = 0; d < 4; ++d) strides[d] = 0;
  int64_t stride = 1;
  for (int i = static_cast<int>(shape.size()) - 1; i >= 0; --i) {
    const int t = 4 - static_cast<int>(shape.size()) + i;
    if (shape[i] != 1 && shape[i] != target[t]) {
      return name + " of shape " + ShapeString(shape) + " does not broadcast to [B, H, Sq, Sk] = " +
             ShapeString(target, 4);
    }
    strides[t] = shape[i] == 1 ? 0 : stride;
    if (!CheckedMul(stride, shape[i], &stride)) return name + " has too many elements";
  }
  return {};
}

// How many elements a mask read at b*s0 + h*s1 + i*s2 + j*s3 over
// [B, H, Sq, Sk] = `sizes` must hold: the highest reachable offset + 1, or 0
// when a size is 0 (nothing is read). Strides must be non-negative and the
// offsets must fit in int64.
inline std::string MaskExtent(const int64_t sizes[4], const int64_t strides[4], int64_t* extent) {
  for (int d = 0; d < 4; ++d) {
    if (strides[d] < 0) return "mask strides must be non-negative";
    if (sizes[d] < 0) return "mask sizes must be non-negative";
  }
  *extent = 0;
  for (int d = 0; d < 4; ++d) {
    if (sizes[d] == 0) return {};
  }
  int64_t last = 0, step = 0;
  for (int d = 0; d < 4; ++d) {
    if (!CheckedMul(sizes[d] - 1, strides[d], &step) || !CheckedAdd(last, step, &last)) {
      return "mask strides reach past the largest offset an int64 holds";
    }
  }
  if (!CheckedAdd(last, 1, extent)) return "mask strides reach past the largest offset an int64 holds";
  return {};
}

// ---- encoder layers ----

// The embedding size E of x [B, S, E] for a front end that runs the layer
// (the CPU core alone also takes E = 0, an empty problem).
inline std::string EmbedDimError(int64_t embed) {
  if (embed < 1) return "E (" + std::to_string(embed) + ") must be at least 1";
  return {};
}

// A head count that splits E into equal heads: at least 1 and dividing E.
// `heads_name` is the argument's name in the message (numHeads, num_heads).
inline std::string HeadCountError(int64_t embed, int64_t num_heads, const std::string& heads_name) {
  if (num_heads < 1 || embed % num_heads != 0) {
    return heads_name + " (" + std::to_string(num_heads) + ") must divide E (" + std::to_string(embed) + ")";
  }
  return {};
}

}  // namespace bt_checks

#endif  // BT_SHARED_PROBLEM_CHECKS_H_
