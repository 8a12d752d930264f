// Fills a KernelTable from the templates for one vector type and its tile
// shapes. Included only by the isa/kernels_*.cc files, each compiled with its
// own instruction-set flags.
#ifndef BTK_ISA_KERNEL_SET_H_
#define BTK_ISA_KERNEL_SET_H_

#include "../attention/attention_backward.h"
#include "../attention/attention_forward.h"
#include "../attention/decode_attention.h"
#include "../gemm/gemm_driver.h"
#include "../gemm/view_gemm.h"
#include "../norm/layer_norm.h"
#include "../norm/rms_norm.h"
#include "../kernel_table.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// GEMM_MR x GEMM_NV vectors: the GEMM register tile; ATT_*: the attention tile
// (attention tiles are 64 x 64, so its MR and NR must divide 64).
template <class V, int GEMM_MR, int GEMM_NV, int ATT_MR, int ATT_NV>
KernelTable make_kernel_table(Isa isa) {
  using GemmKernel = Gemm<V, GEMM_MR, GEMM_NV>;
  KernelTable table;
  table.isa = isa;
  table.gemm_panel_width = GemmKernel::NR;
  table.pack_weight = &GemmKernel::pack_weight;
  table.gemm = &GemmKernel::gemm;
  table.gemm_group = &GemmKernel::gemm_group;
  table.attention_forward = &AttentionForward<V, ATT_MR, ATT_NV>::run;
  table.attention_backward = &AttentionBackward<V, ATT_MR, ATT_NV>::run;
  table.layer_norm = &LayerNorm<V>::run;
  table.rms_norm = &RmsNorm<V>::run;
  table.decode_attention = &DecodeAttention<V>::run;
  using Views = ViewGemm<V, GEMM_MR, GEMM_NV>;
  table.gemm_view = &Views::gemm_view;
  table.bf16_elements = &Views::bf16_elements;
  table.pack_weight_bf16 = &Views::pack_weight_bf16;
  return table;
}

}  // namespace
}  // namespace btk

#endif  // BTK_ISA_KERNEL_SET_H_
