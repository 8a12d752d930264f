// The per-ISA kernel set. Each ISA translation unit (isa/kernels_*.cc)
// instantiates the kernel templates with its vector type and fills one table;
// generic code (the C API, the encoder) only ever calls through the table.
#ifndef BTK_KERNEL_TABLE_H_
#define BTK_KERNEL_TABLE_H_

#include <stdint.h>

#include "../include/btk.h"
#include "cpu_features.h"

namespace btk {

// How a PackedWeight stores its values.
enum class WeightFormat : int32_t {
  // float32 column panels of `panel_width` (the micro-kernel's NR): panel p holds
  // rows 0..K-1 of columns p*NR..p*NR+NR-1, zero padded (pack_weight).
  f32_panels = 0,
  // bfloat16 column panels in the layout of the table that packed them
  // (pack_weight_bf16, which also transposes a weight stored [N][K]): [K][NR] per
  // panel where bf16 is widened on load, [ceil(K/2)][NR][2] (pairs along K) where
  // the CPU has bf16 dot products.
  bf16_panels = 1,
};

// A [rows=K, cols=N] weight packed for the micro-kernels of one ISA.
struct PackedWeight {
  int64_t rows, cols;
  int panel_width;
  Isa isa;
  float* panels;  // 64-byte aligned; f32_panels: panel_count() * rows * panel_width floats; bf16: uint16_t data
  WeightFormat format;
};

// What a product y = x . W reads, for a [K, N] weight W:
//   f32_kn  the caller's own row-major float32 [K][ld] (ld >= N), read in place, never copied;
//   f32_nk  the caller's own float32 W transposed, [N][ld] (ld >= K), read in place (a tied LM head);
//   prepacked  a PackedWeight of any format.
struct WeightView {
  enum Kind : int32_t { f32_kn = 0, f32_nk = 1, prepacked = 2 };
  Kind kind;
  const float* data;
  int64_t ld;
  const PackedWeight* packed;
  int64_t k, n;
};

struct GemmEpilogue {
  const float* bias;        // [N]
  btk_activation activation;
  const float* residual;    // [M, N] with row stride residual_ld, added after activation
  int64_t residual_ld;
};

// Where element (batch b, head h, row i, column 0) of an attention operand
// lives: offset(b) + h * head_stride + i * row_stride, columns contiguous.
// offset(b) = batch_offsets[b] when given (packed variable-length sequences),
// else b * batch_stride.
struct AttentionOperand {
  const float* data;
  const int64_t* batch_offsets;
  int64_t batch_stride, head_stride, row_stride;
};

struct AttentionProblem {
  int64_t batch, heads, kv_heads, q_len, kv_len, head_dim, value_dim;
  // Per-batch lengths for packed or cached sequences: Sq = q_lens[b] (null: q_len) and
  // Sk = kv_lens[b] (null: kv_len). The causal rule is bottom-right per sequence:
  // key j is visible from query i iff j <= i + Sk - Sq.
  const int64_t* q_lens;
  const int64_t* kv_lens;
  float scale;
  bool causal;
  btk_mask_kind mask_kind;
  const void* mask;
  int64_t mask_strides[4];
  const uint8_t* key_padding;  // [batch, kv_len]
  // Optional [heads, position_bias_rows]: a visible key j of query i gains position_bias[h, d]
  // with d = i + Sk - Sq - j, the distance of their absolute positions in a cache (T5).
  const float* position_bias;
  int64_t position_bias_rows;
  // Optional additive score bias by original position (an encoder's T5 bias, shared by all its layers):
  // score (i, j) of (b, h) gains score_bias[b * score_bias_batch_stride + (h * L + pos(b, i)) * L + pos(b, j)]
  // with L = score_bias_len (batch stride 0 broadcasts). pos(b, i) = score_bias_positions[
  // score_bias_first_row[b] + i], the position row i of a packed sequence had before padding was
  // removed; i itself when score_bias_positions is null.
  const float* score_bias;
  int64_t score_bias_batch_stride, score_bias_len;
  const int64_t* score_bias_positions;
  const int64_t* score_bias_first_row;
};

struct AttentionGradients {
  const float* out;  // forward output, same layout as d_out
  const float* lse;  // [batch, heads, q_len]
  AttentionOperand d_out;
  float* d_q;        // layout of q (contiguous [B,H,Sq,D])
  float* d_k;        // [B,Hkv,Sk,D]
  float* d_v;        // [B,Hkv,Sk,Dv]
  float* d_mask;     // mask storage, mask_extent elements
  int64_t mask_extent;
};

// Helpers are static free functions, and the structs plain aggregates with no
// member functions or default initialisers, so no inline code is ever shared
// between translation units compiled for different ISAs (the linker could keep
// an AVX-512 copy for everyone).
static inline int64_t panel_count(const PackedWeight& w) { return (w.cols + w.panel_width - 1) / w.panel_width; }
static inline int64_t operand_offset(const AttentionOperand& t, int64_t b, int64_t h, int64_t i) {
  return (t.batch_offsets ? t.batch_offsets[b] : b * t.batch_stride) + h * t.head_stride + i * t.row_stride;
}
static inline int64_t q_len_of(const AttentionProblem& p, int64_t b) { return p.q_lens ? p.q_lens[b] : p.q_len; }
static inline int64_t kv_len_of(const AttentionProblem& p, int64_t b) { return p.kv_lens ? p.kv_lens[b] : p.kv_len; }

struct KernelTable {
  Isa isa;
  int gemm_panel_width;
  void (*pack_weight)(const float* weight, int64_t rows, int64_t cols, float* panels);
  // c = act(a . w + bias) + residual; m rows of a with stride lda.
  bool (*gemm)(int64_t m, const float* a, int64_t lda, const PackedWeight& w, float* c, int64_t ldc,
               const GemmEpilogue& epilogue);
  // groups products of the same rows in one parallel region: c[g] = act(a . w[g] + bias) + residual per
  // epilogues[g]; every w[g] has the same rows (k).
  bool (*gemm_group)(int64_t m, const float* a, int64_t lda, int groups, const PackedWeight* const* w,
                     float* const* c, int64_t ldc, const GemmEpilogue* const* epilogues);
  // Writes out (an operand whose data is writable) and lse [B, H, Sq] (optional).
  bool (*attention_forward)(const AttentionProblem& problem, const AttentionOperand& q,
                            const AttentionOperand& k, const AttentionOperand& v,
                            const AttentionOperand& out, float* lse);
  // Contiguous [B,H,S,*] operands only (the public op's layout).
  bool (*attention_backward)(const AttentionProblem& problem, const AttentionOperand& q,
                             const AttentionOperand& k, const AttentionOperand& v,
                             const AttentionOperand& out, const AttentionGradients& grads);
  void (*layer_norm)(int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* gamma,
                     const float* beta, float eps, float* y, int64_t ldy);
  // y = x / sqrt(mean(x^2) + eps) * gamma (gamma null = 1); y may alias x.
  void (*rms_norm)(int64_t rows, int64_t cols, const float* x, int64_t ldx, const float* gamma, float eps, float* y,
                   int64_t ldy);
  // Attention for few queries per sequence (decoding): the same contract as
  // attention_forward (masks: causal, key padding and the position bias only; lse not written), one pass
  // over each (sequence, kv head)'s keys for all its query heads and rows.
  bool (*decode_attention)(const AttentionProblem& problem, const AttentionOperand& q, const AttentionOperand& k,
                           const AttentionOperand& v, const AttentionOperand& out);
  // c = epilogue(a . w) for any WeightView (k = w.k, n = w.n).
  bool (*gemm_view)(int64_t m, const float* a, int64_t lda, const WeightView& w, float* c, int64_t ldc,
                    const GemmEpilogue& epilogue);
  // bfloat16 copies (round to nearest even) of a [K, N] weight as bf16_panels, read from
  // [K][N] memory, or from [N][K] when `transposed`; sizes in uint16_t elements.
  int64_t (*bf16_elements)(int64_t k, int64_t n);
  void (*pack_weight_bf16)(const float* weight, int64_t k, int64_t n, bool transposed, uint16_t* out);
};
// The bool results are false only when scratch memory could not be allocated.

const KernelTable& scalar_kernels();
#if defined(BTK_HAVE_X86_KERNELS)
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();
// The AVX-512 table with bfloat16 products on AVX512-BF16 dot products (vdpbf16ps).
const KernelTable& avx512_bf16_kernels();
#endif

// The table of selected_isa(); kernels_for(isa): that ISA's table, or the best supported lower one.
const KernelTable& active_kernels();
const KernelTable& kernels_for(Isa isa);

}  // namespace btk

#endif  // BTK_KERNEL_TABLE_H_
