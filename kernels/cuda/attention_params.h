// Internal description of one attention launch: strided tensors so the same
// kernels serve the [B, H, S, D] op layout and the encoder's packed
// [tokens, 3E] QKV buffer (variable-length sequences through seq_offsets).
#ifndef TFJS_BT_CUDA_ATTENTION_PARAMS_H_
#define TFJS_BT_CUDA_ATTENTION_PARAMS_H_

#include <cstdint>

#include <cuda_runtime.h>

namespace btc {

struct AttentionParams {
  int batch, heads, kv_heads, q_seq, k_seq, depth, value_depth;
  float scale;
  bool causal;
  const float *q, *k, *v;
  float* out;
  float* lse;  // [B, H, Sq] contiguous, or null
  // Element strides (the last dimension is contiguous).
  int64_t q_sb, q_sh, q_ss, k_sb, k_sh, k_ss, v_sb, v_sh, v_ss, o_sb, o_sh, o_ss;
  // Variable lengths: batch b's rows are rows seq_offsets[b] .. seq_offsets[b+1]-1 of
  // every tensor (batch strides unused), for queries and keys alike; null = fixed sizes.
  const int* seq_offsets;
  // Per-sequence lengths over a key/value cache (seq_offsets null): batch b has q_lens[b] query
  // rows and k_lens[b] keys (bottom-right causal between them), its queries (and outputs) start
  // at row q_row0[b] of q (and out) when q_row0 is set (the decoder's packed rows), else at the
  // batch stride; keys at the batch stride. null = fixed sizes q_seq, k_seq.
  const int* q_lens;
  const int* k_lens;
  const int* q_row0;
  int mask_kind;  // 0 none, 1 bool (uint8), 2 additive (float)
  const void* mask;
  int64_t mask_strides[4];
  const uint8_t* key_valid;  // [B, k_seq] or null
  const int* key_limit;      // [B] or null
};

// Largest of D and Dv rounded up to the kernels' instantiated depths.
inline int PaddedDepth(int depth, int value_depth) {
  const int d = depth > value_depth ? depth : value_depth;
  return d <= 32 ? 32 : d <= 64 ? 64 : 128;
}

cudaError_t LaunchAttentionForwardFp32(const AttentionParams& p, cudaStream_t stream);
cudaError_t LaunchAttentionForwardTf32(const AttentionParams& p, cudaStream_t stream);
// dq, dmask must be zero on entry (the kernel accumulates into them); delta is B*H*Sq floats.
// p.out must be the forward's output (read for delta = rowsum(dout * out)).
cudaError_t LaunchAttentionBackward(const AttentionParams& p, const float* dout, float* delta, float* dq, float* dk, float* dv, float* dmask,
                                    cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_ATTENTION_PARAMS_H_
