// Per-row geometry and the visibility / additive-mask rule shared by the
// attention kernels, so forward and backward agree element for element.
#ifndef TFJS_BT_CUDA_ATTENTION_MASK_CUH_
#define TFJS_BT_CUDA_ATTENTION_MASK_CUH_

#include <cmath>
#include <cstdint>

#include "attention_params.h"

namespace btc {

// Lengths and row offsets of one (batch, head) pair.
struct HeadView {
  int q_len, k_len;
  int64_t q_base, k_base, v_base, o_base;  // element offsets of row 0
  int k_end;                               // keys at or past k_end are never visible
};

__device__ inline HeadView MakeHeadView(const AttentionParams& p, int b, int h) {
  HeadView v;
  const int kvh = h / (p.heads / p.kv_heads);
  int64_t q_row0 = 0, k_row0 = 0;
  if (p.seq_offsets) {
    const int begin = p.seq_offsets[b];
    v.q_len = v.k_len = p.seq_offsets[b + 1] - begin;
    q_row0 = k_row0 = begin;
    v.q_base = q_row0 * p.q_ss + h * p.q_sh;
    v.k_base = k_row0 * p.k_ss + kvh * p.k_sh;
    v.v_base = k_row0 * p.v_ss + kvh * p.v_sh;
    v.o_base = q_row0 * p.o_ss + h * p.o_sh;
  } else if (p.k_lens) {
    v.q_len = p.q_lens[b];
    v.k_len = p.k_lens[b];
    const int64_t q_row0 = p.q_row0 ? p.q_row0[b] : 0;
    v.q_base = (p.q_row0 ? q_row0 * p.q_ss : b * p.q_sb) + h * p.q_sh;
    v.o_base = (p.q_row0 ? q_row0 * p.o_ss : b * p.o_sb) + h * p.o_sh;
    v.k_base = b * p.k_sb + kvh * p.k_sh;
    v.v_base = b * p.v_sb + kvh * p.v_sh;
  } else {
    v.q_len = p.q_seq;
    v.k_len = p.k_seq;
    v.q_base = b * p.q_sb + h * p.q_sh;
    v.k_base = b * p.k_sb + kvh * p.k_sh;
    v.v_base = b * p.v_sb + kvh * p.v_sh;
    v.o_base = b * p.o_sb + h * p.o_sh;
  }
  v.k_end = v.k_len;
  if (p.key_limit) {
    const int lim = p.key_limit[b];
    v.k_end = lim < v.k_end ? (lim < 0 ? 0 : lim) : v.k_end;
  }
  return v;
}

// Keys a query row range [row_begin, row_end) may see at most: [0, end).
__device__ inline int VisibleKeyEnd(const AttentionParams& p, const HeadView& v, int row_last) {
  int end = v.k_end;
  if (p.causal) {
    const int c = row_last + (v.k_len - v.q_len) + 1;
    end = c < end ? c : end;
  }
  return end < 0 ? 0 : end;
}

// The score's mask term for (b, h, i, j): 0, an additive value, or -inf when hidden.
__device__ inline float MaskTerm(const AttentionParams& p, const HeadView& v, int b, int h, int i, int j) {
  if (j >= v.k_end) return -INFINITY;
  if (p.causal && j > i + (v.k_len - v.q_len)) return -INFINITY;
  if (p.key_valid && p.key_valid[static_cast<int64_t>(b) * p.k_seq + j] == 0) return -INFINITY;
  if (p.mask_kind != 0) {
    const int64_t at = b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3];
    if (p.mask_kind == 1) {
      if (static_cast<const uint8_t*>(p.mask)[at] == 0) return -INFINITY;
    } else {
      return static_cast<const float*>(p.mask)[at];
    }
  }
  return 0.f;
}

__device__ inline int64_t MaskOffset(const AttentionParams& p, int b, int h, int i, int j) {
  return b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] + j * p.mask_strides[3];
}

}  // namespace btc

#endif  // TFJS_BT_CUDA_ATTENTION_MASK_CUH_
