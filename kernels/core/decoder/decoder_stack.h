// A decoder-only language model's step (generic code; the arithmetic runs
// through the KernelTable). See btk_transformer_decoder_stack in btk.h.
#ifndef BTK_DECODER_DECODER_STACK_H_
#define BTK_DECODER_DECODER_STACK_H_

#include "../kernel_table.h"

namespace btk {

btk_status run_decoder_stack(const KernelTable& kernels, const btk_decoder& model, const btk_decoder_step& step);

}  // namespace btk

#endif  // BTK_DECODER_DECODER_STACK_H_
