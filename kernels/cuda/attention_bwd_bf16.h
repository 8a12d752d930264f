// Attention backward, precision 'medium': BF16 tensor cores, FP32 in and out,
// FP32 accumulation and softmax statistics.
#ifndef TFJS_BT_CUDA_ATTENTION_BWD_BF16_H_
#define TFJS_BT_CUDA_ATTENTION_BWD_BF16_H_

#include <cstddef>

#include <cuda_runtime.h>

#include "attention_params.h"

namespace btc {

// Scratch (device bytes) LaunchAttentionBackwardBf16 needs beyond delta: bf16 copies of q, dout
// ([B, H, Sq, DP]) and k, v ([B, Hkv, Sk, DP]), DP = PaddedDepth(D, Dv), each 256-byte aligned.
size_t AttentionBackwardBf16ScratchBytes(const AttentionParams& p);

// Same contract as LaunchAttentionBackward (attention_params.h): dq and dmask zero on entry, p.out and
// p.lse the forward's, delta is B*H*Sq floats of scratch; scratch is AttentionBackwardBf16ScratchBytes(p)
// bytes (256-byte aligned). Fixed sizes only (p.seq_offsets, p.k_lens null, as the grad ABI gives).
cudaError_t LaunchAttentionBackwardBf16(const AttentionParams& p, const float* dout, float* delta, float* dq,
                                        float* dk, float* dv, float* dmask, void* scratch, cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_ATTENTION_BWD_BF16_H_
