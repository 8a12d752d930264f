// Attention forward at precision 'medium': bfloat16 copies of q, k and v (made by
// a conversion pass into the caller's workspace), both products on BF16 tensor
// cores with FP32 accumulation, softmax statistics and output in FP32.
#ifndef TFJS_BT_CUDA_ATTENTION_FWD_BF16_H_
#define TFJS_BT_CUDA_ATTENTION_FWD_BF16_H_

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

#include "attention_params.h"

namespace btc {

// Rows of q (and out) and of k (and v) the copies hold: B·Sq and B·Sk for fixed sizes; with
// p.seq_offsets, the packed token count (seq_offsets[B]) for both.
struct Bf16Rows {
  int64_t q_rows, k_rows;
};

// Whether the 'medium' kernel takes these parameters: fixed sizes or seq_offsets, not the
// per-sequence cache lengths (k_lens) of the decoding path, which stays on TF32.
bool AttentionBf16Supports(const AttentionParams& p);

// Workspace bytes for the bf16 copies (each 256-byte aligned).
size_t AttentionBf16WorkspaceBytes(const AttentionParams& p, Bf16Rows rows);

// Converts q, k and v into `workspace` and runs the tensor-core kernel. Same semantics as
// LaunchAttentionForwardTf32 (masks, key padding, causal, GQA, empty rows, lse).
cudaError_t LaunchAttentionForwardBf16(const AttentionParams& p, Bf16Rows rows, void* workspace,
                                       cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_ATTENTION_FWD_BF16_H_
