// The memory-safety rules of the decoding ops that the TensorFlow op library
// (decoder_inputs.cc, CPU and GPU kernels) and the CUDA ABI
// (kernels/cuda/bt_cuda_api.cu) both check on host copies of the values: cache
// lengths against the capacity, token ids against the vocabulary, positions
// against the learned-position and rotary tables. One implementation, so that
// the two front ends cannot drift (the addon, kernels/bindings/node, checks the
// same rules with its own JavaScript-named messages).
//
// Same contract as kernels/shared/problem_checks.h, where these belong (this
// file lives here only because that folder is shared by other work): header
// only, C++17 and the standard library, no compiler builtins (nvcc compiles it
// as host code); each check returns an error message, empty when the values
// are fine. Names in messages are the ABI's and the TensorFlow ops' (snake_case).
#ifndef BT_TF_DECODER_CHECKS_H_
#define BT_TF_DECODER_CHECKS_H_

#include <cstdint>
#include <string>

namespace bt_checks {

// Per-sequence lengths of a cache step over N new tokens and a cache of C rows:
// new_lengths[b] in [0, N], past_lengths[b] >= 0, past + new <= C.
inline std::string CacheLengthsError(int64_t batch, int64_t new_len, int64_t capacity, const int32_t* past,
                                     const int32_t* fresh) {
  for (int64_t b = 0; b < batch; ++b) {
    const std::string at = "[" + std::to_string(b) + "]";
    if (fresh[b] < 0 || fresh[b] > new_len) {
      return "new_lengths" + at + " = " + std::to_string(fresh[b]) + " is outside [0, N = " + std::to_string(new_len) +
             "]";
    }
    if (past[b] < 0) return "past_lengths" + at + " = " + std::to_string(past[b]) + " is negative";
    const int64_t total = static_cast<int64_t>(past[b]) + fresh[b];
    if (total > capacity) {
      return "past_lengths" + at + " + new_lengths" + at + " = " + std::to_string(total) +
             " exceeds the cache capacity C = " + std::to_string(capacity);
    }
  }
  return {};
}

// The real ids of input_ids [B, N] (row b's first new_lengths[b]; the rest is padding, never
// read) in [0, vocab). Lengths must have passed CacheLengthsError.
inline std::string TokenIdsError(int64_t batch, int64_t new_len, const int32_t* ids, const int32_t* fresh,
                                 int64_t vocab) {
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t i = 0; i < fresh[b]; ++i) {
      const int32_t id = ids[b * new_len + i];
      if (id < 0 || id >= vocab) {
        return "input_ids[" + std::to_string(b) + ", " + std::to_string(i) + "] = " + std::to_string(id) +
               " is outside the vocabulary [0, " + std::to_string(vocab) + ")";
      }
    }
  }
  return {};
}

// The positions a step reaches (past + i for i < new) within the model's tables: learned
// position rows read at position + offset (position_rows 0: none), rotary rows (rotary_rows 0:
// none). Lengths must have passed CacheLengthsError.
inline std::string StepPositionsError(int64_t batch, const int32_t* past, const int32_t* fresh,
                                      int64_t position_rows, int64_t position_offset, int64_t rotary_rows) {
  for (int64_t b = 0; b < batch; ++b) {
    if (fresh[b] == 0) continue;
    const int64_t last = static_cast<int64_t>(past[b]) + fresh[b] - 1;
    if (position_rows > 0 && last + position_offset >= position_rows) {
      return "position " + std::to_string(last) + " of sequence " + std::to_string(b) + " is past the " +
             std::to_string(position_rows - position_offset) + " learned positions";
    }
    if (rotary_rows > 0 && last >= rotary_rows) {
      return "position " + std::to_string(last) + " of sequence " + std::to_string(b) + " is past the rotary tables' " +
             std::to_string(rotary_rows) + " rows";
    }
  }
  return {};
}

// The self-attention position bias [H, rows] (T5) covers the distances a step reaches: every
// position past + i (i < new) below `rows`. Lengths must have passed CacheLengthsError.
inline std::string PositionBiasError(int64_t batch, const int32_t* past, const int32_t* fresh, int64_t rows) {
  for (int64_t b = 0; b < batch; ++b) {
    if (fresh[b] == 0) continue;
    const int64_t last = static_cast<int64_t>(past[b]) + fresh[b] - 1;
    if (last >= rows) {
      return "position " + std::to_string(last) + " of sequence " + std::to_string(b) + " is past position_bias's " +
             std::to_string(rows) + " distances";
    }
  }
  return {};
}

// A source mask [B, S] (nonzero = real token) leaves every sequence a real source token.
inline std::string SourceMaskError(int64_t batch, int64_t source_len, const int32_t* mask) {
  for (int64_t b = 0; b < batch; ++b) {
    bool any = false;
    for (int64_t s = 0; s < source_len && !any; ++s) any = mask[b * source_len + s] != 0;
    if (!any) return "source_mask row " + std::to_string(b) + " has no real source token (all zeros)";
  }
  return {};
}

// Beam search's reorder: source_rows [B] in [0, B), lengths [B] in [0, C].
inline std::string ReorderRowsError(int64_t batch, int64_t capacity, const int32_t* lengths, const int32_t* rows) {
  for (int64_t b = 0; b < batch; ++b) {
    const std::string at = "[" + std::to_string(b) + "] = ";
    if (rows[b] < 0 || rows[b] >= batch) {
      return "source_rows" + at + std::to_string(rows[b]) + " is outside [0, B = " + std::to_string(batch) + ")";
    }
    if (lengths[b] < 0 || lengths[b] > capacity) {
      return "lengths" + at + std::to_string(lengths[b]) + " is outside [0, C = " + std::to_string(capacity) + "]";
    }
  }
  return {};
}

// Rotary positions [count] (int32) within a table of `rows` rows.
inline std::string RotaryPositionsError(int64_t count, const int32_t* positions, int64_t rows) {
  for (int64_t i = 0; i < count; ++i) {
    if (positions[i] < 0 || positions[i] >= rows) {
      return "positions[" + std::to_string(i) + "] = " + std::to_string(positions[i]) +
             " is outside the cos/sin tables' " + std::to_string(rows) + " rows";
    }
  }
  return {};
}

// A rotary dimension for heads of head_dim features: even, 0 <= rotary_dim <= head_dim.
inline std::string RotaryDimError(int64_t rotary_dim, int64_t head_dim) {
  if (rotary_dim < 0 || rotary_dim % 2 != 0 || rotary_dim > head_dim) {
    return "rotary_dim (" + std::to_string(rotary_dim) + ") must be even and at most the head size " +
           std::to_string(head_dim);
  }
  return {};
}

// The head layout of a decoder: H >= 1, Hkv >= 1 dividing H, D >= 1.
inline std::string DecoderHeadsError(int64_t heads, int64_t kv_heads, int64_t head_dim) {
  if (heads < 1 || kv_heads < 1 || heads % kv_heads != 0) {
    return "num_kv_heads (" + std::to_string(kv_heads) + ") must be a positive divisor of num_heads (" +
           std::to_string(heads) + ")";
  }
  if (head_dim < 1) return "head_dim (" + std::to_string(head_dim) + ") must be at least 1";
  return {};
}

}  // namespace bt_checks

#endif  // BT_TF_DECODER_CHECKS_H_
