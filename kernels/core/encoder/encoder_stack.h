// Encoder layers on packed tokens (generic code; the arithmetic runs through
// the KernelTable). See btk_transformer_encoder_stack in btk.h for the contract.
#ifndef BTK_ENCODER_ENCODER_STACK_H_
#define BTK_ENCODER_ENCODER_STACK_H_

#include "../kernel_table.h"

namespace btk {

btk_status run_encoder_stack(const KernelTable& kernels, const btk_encoder_layer_params* layers, int64_t num_layers,
                             const float* x, int64_t batch, int64_t seq_len, int64_t embed_dim,
                             const uint8_t* key_padding, const float* attention_bias, int64_t bias_batch, float* y);

}  // namespace btk

#endif  // BTK_ENCODER_ENCODER_STACK_H_
