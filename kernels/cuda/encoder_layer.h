// The fused encoder layer on the GPU, composed from cuBLASLt GEMMs (bias,
// activation and residual in their epilogues), varlen attention, LayerNorm and
// pack/unpack. Padding tokens are removed on entry and written as zeros on exit.
#ifndef TFJS_BT_CUDA_ENCODER_LAYER_H_
#define TFJS_BT_CUDA_ENCODER_LAYER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "bt_cuda.h"
#include "gemm_lt.h"

namespace btc {

// Token bookkeeping computed on the host from the key padding mask.
struct EncoderPlan {
  bool padded = false;
  int64_t tokens = 0;
  int max_len = 0;
  std::vector<int> seq_offsets;   // [B + 1]
  std::vector<int> row_of_token;  // [T], padded only
  std::vector<int> token_of_row;  // [B * S], padded only
};

EncoderPlan PlanEncoder(const bt_cuda_encoder& e);
size_t EncoderWorkspaceBytes(const bt_cuda_encoder& e, const EncoderPlan& plan);
// Returns a bt_cuda_status; `error` holds the message on failure.
int RunEncoderLayer(const GemmLt& lt, const bt_cuda_encoder& e, const EncoderPlan& plan, void* workspace,
                    cudaStream_t stream, std::string* error);

}  // namespace btc

#endif  // TFJS_BT_CUDA_ENCODER_LAYER_H_
