// The C ABI (include/btk.h): argument checks that need no buffer lengths, then
// a call into the active kernel table.
#include <cstdlib>
#include <cstring>

#include "../include/btk.h"
#include "../shared/problem_checks.h"
#include "decoder/decoder_stack.h"
#include "decoder/kv_cache.h"
#include "decoder/reorder_cache.h"
#include "decoder/rotary.h"
#include "encoder/encoder_stack.h"
#include "kernel_table.h"
#include "packed_weight.h"
#include "thread_pool.h"

#ifndef BTK_VERSION
#define BTK_VERSION "0.1.0"
#endif

namespace {

using btk::AttentionOperand;
using btk::AttentionProblem;

// Elements a mask's strides can reach (the highest offset + 1, 0 for an empty
// problem); false for negative strides or offsets past int64.
bool mask_extent(const btk_sdpa_problem& p, int64_t* extent) {
  const int64_t sizes[4] = {p.batch, p.heads, p.q_len, p.kv_len};
  return bt_checks::MaskExtent(sizes, p.mask_strides, extent).empty();
}

// Sizes of an SDPA problem (attention dims and mask extent as every front end
// checks them), its mask kind and mask pointer; not buffer lengths.
bool sdpa_problem_is_valid(const btk_sdpa_problem* p) {
  if (!p) return false;
  const bt_checks::AttentionDims dims{p->batch, p->heads, p->kv_heads, p->q_len, p->kv_len, p->head_dim, p->value_dim};
  if (!bt_checks::AttentionDimsError(dims, /*require_heads_and_depth=*/false).empty()) return false;
  if (p->mask_kind != BTK_MASK_NONE && p->mask_kind != BTK_MASK_BOOL && p->mask_kind != BTK_MASK_FLOAT) return false;
  if (p->mask_kind != BTK_MASK_NONE) {
    int64_t extent = 0;
    if (!mask_extent(*p, &extent)) return false;
    // An empty problem's mask has no element to read (and a zero-length array may have no address).
    if (!p->mask && extent > 0) return false;
  }
  return true;
}

AttentionProblem internal_problem(const btk_sdpa_problem& p) {
  AttentionProblem problem{};
  problem.batch = p.batch;
  problem.heads = p.heads;
  problem.kv_heads = p.kv_heads;
  problem.q_len = p.q_len;
  problem.kv_len = p.kv_len;
  problem.head_dim = p.head_dim;
  problem.value_dim = p.value_dim;
  problem.scale = p.scale;
  problem.causal = p.causal != 0;
  problem.mask_kind = p.mask_kind;
  problem.mask = p.mask_kind == BTK_MASK_NONE ? nullptr : p.mask;
  for (int d = 0; d < 4; ++d) problem.mask_strides[d] = p.mask_strides[d];
  problem.key_padding = p.key_padding;
  return problem;
}

// A contiguous [batch, heads, rows, cols] operand.
AttentionOperand contiguous(const float* data, int64_t heads, int64_t rows, int64_t cols) {
  return AttentionOperand{data, nullptr, heads * rows * cols, rows * cols, cols};
}

}  // namespace

extern "C" {

btk_status btk_scaled_dot_product_attention(const btk_sdpa_problem* p, const float* q, const float* k, const float* v,
                                            float* out, float* lse) {
  if (!sdpa_problem_is_valid(p)) return BTK_INVALID_ARGUMENT;
  const int64_t out_rows = p->batch * p->heads * p->q_len;
  if (out_rows == 0) return BTK_OK;
  if ((p->value_dim > 0 && !out) || (p->head_dim > 0 && !q) || (p->kv_len > 0 && ((p->head_dim > 0 && !k) || (p->value_dim > 0 && !v))))
    return BTK_INVALID_ARGUMENT;
  const AttentionProblem problem = internal_problem(*p);
  const AttentionOperand q_operand = contiguous(q, p->heads, p->q_len, p->head_dim);
  const AttentionOperand k_operand = contiguous(k, p->kv_heads, p->kv_len, p->head_dim);
  const AttentionOperand v_operand = contiguous(v, p->kv_heads, p->kv_len, p->value_dim);
  const AttentionOperand out_operand = contiguous(out, p->heads, p->q_len, p->value_dim);
  return btk::active_kernels().attention_forward(problem, q_operand, k_operand, v_operand, out_operand, lse)
             ? BTK_OK
             : BTK_OUT_OF_MEMORY;
}

btk_status btk_scaled_dot_product_attention_grad(const btk_sdpa_problem* p, const float* q, const float* k,
                                                 const float* v, const float* out, const float* lse, const float* d_out,
                                                 float* d_q, float* d_k, float* d_v, float* d_mask) {
  if (!sdpa_problem_is_valid(p)) return BTK_INVALID_ARGUMENT;
  if (d_mask && p->mask_kind != BTK_MASK_FLOAT) return BTK_INVALID_ARGUMENT;
  const int64_t q_rows = p->batch * p->heads * p->q_len, kv_rows = p->batch * p->kv_heads * p->kv_len;
  if ((q_rows > 0 && (!lse || (p->head_dim > 0 && (!q || !d_q)) || (p->value_dim > 0 && (!out || !d_out)))) ||
      (kv_rows > 0 && ((p->head_dim > 0 && (!k || !d_k)) || (p->value_dim > 0 && (!v || !d_v)))))
    return BTK_INVALID_ARGUMENT;
  int64_t d_mask_extent = 0;
  if (d_mask) mask_extent(*p, &d_mask_extent);  // valid: checked above
  if (q_rows == 0 && kv_rows == 0) {
    if (d_mask) std::memset(d_mask, 0, sizeof(float) * d_mask_extent);
    return BTK_OK;
  }
  const AttentionProblem problem = internal_problem(*p);
  btk::AttentionGradients grads{};
  grads.out = out;
  grads.lse = lse;
  grads.d_out = contiguous(d_out, p->heads, p->q_len, p->value_dim);
  grads.d_q = d_q;
  grads.d_k = d_k;
  grads.d_v = d_v;
  grads.d_mask = d_mask;
  grads.mask_extent = d_mask_extent;
  const AttentionOperand q_operand = contiguous(q, p->heads, p->q_len, p->head_dim);
  const AttentionOperand k_operand = contiguous(k, p->kv_heads, p->kv_len, p->head_dim);
  const AttentionOperand v_operand = contiguous(v, p->kv_heads, p->kv_len, p->value_dim);
  const AttentionOperand out_operand = contiguous(out, p->heads, p->q_len, p->value_dim);
  return btk::active_kernels().attention_backward(problem, q_operand, k_operand, v_operand, out_operand, grads)
             ? BTK_OK
             : BTK_OUT_OF_MEMORY;
}

btk_packed_weight* btk_pack_weight(const float* weight, int64_t rows, int64_t cols) {
  return btk::pack_weight_for(btk::active_kernels(), weight, rows, cols);
}

void btk_free_packed_weight(btk_packed_weight* packed) { btk::free_packed_weight(packed); }

int64_t btk_packed_weight_rows(const btk_packed_weight* packed) { return packed ? packed->weight.rows : 0; }
int64_t btk_packed_weight_cols(const btk_packed_weight* packed) { return packed ? packed->weight.cols : 0; }
int64_t btk_packed_weight_bytes(const btk_packed_weight* packed) { return packed ? btk::packed_weight_bytes(*packed) : 0; }

btk_status btk_gemm(int64_t m, const float* a, int64_t lda, const btk_packed_weight* w, float* c, int64_t ldc,
                    const float* bias, btk_activation activation, const float* residual, int64_t ld_residual) {
  const btk::KernelTable& kernels = btk::active_kernels();
  if (m < 0 || !btk::packed_weight_matches(w, kernels)) return BTK_INVALID_ARGUMENT;
  const int64_t k = w->weight.rows, n = w->weight.cols;
  if (m == 0 || n == 0) return BTK_OK;
  if (!c || ldc < n || (k > 0 && (!a || lda < k)) || (residual && ld_residual < n)) return BTK_INVALID_ARGUMENT;
  // The residual is read after c is written (per K block), so they must be distinct memory.
  const float* c_end = c + (m - 1) * ldc + n;
  if (residual && residual < c_end && c < residual + (m - 1) * ld_residual + n) return BTK_INVALID_ARGUMENT;
  if (activation < BTK_ACTIVATION_NONE || activation > BTK_ACTIVATION_SILU) return BTK_INVALID_ARGUMENT;
  const btk::GemmEpilogue epilogue{bias, activation, residual, ld_residual};
  if (w->weight.format != btk::WeightFormat::f32_panels) {
    btk::WeightView view{};
    view.kind = btk::WeightView::prepacked;
    view.packed = &w->weight;
    view.k = k;
    view.n = n;
    return kernels.gemm_view(m, a, lda, view, c, ldc, epilogue) ? BTK_OK : BTK_OUT_OF_MEMORY;
  }
  return kernels.gemm(m, a, lda, w->weight, c, ldc, epilogue) ? BTK_OK : BTK_OUT_OF_MEMORY;
}

btk_packed_weight* btk_pack_weight_bf16(const float* weight, int64_t rows, int64_t cols, int transposed) {
  return btk::pack_weight_bf16_for(btk::active_kernels(), weight, rows, cols, transposed != 0);
}

btk_weight_format btk_packed_weight_format(const btk_packed_weight* packed) {
  if (!packed) return BTK_WEIGHT_F32_PANELS;
  return packed->weight.format == btk::WeightFormat::bf16_panels ? BTK_WEIGHT_BF16 : BTK_WEIGHT_F32_PANELS;
}

btk_status btk_rms_norm(int64_t rows, int64_t cols, const float* x, const float* gamma, float eps, float* y) {
  if (rows < 0 || cols < 0) return BTK_INVALID_ARGUMENT;
  if (rows * cols == 0) return BTK_OK;
  if (!x || !y) return BTK_INVALID_ARGUMENT;
  btk::active_kernels().rms_norm(rows, cols, x, cols, gamma, eps, y, cols);
  return BTK_OK;
}

btk_status btk_rotary_embedding(const btk_rotary* rotary, int64_t batch, int64_t heads, int64_t seq_len,
                                int64_t head_dim, const float* x, const int32_t* positions, float* y) {
  if (!rotary || batch < 0 || heads < 0 || seq_len < 0 || head_dim < 0) return BTK_INVALID_ARGUMENT;
  if (!btk::rotary_is_valid(*rotary, head_dim)) return BTK_INVALID_ARGUMENT;
  const int64_t elements = batch * heads * seq_len * head_dim;
  if (elements == 0) return BTK_OK;
  if (!x || !y || (rotary->rotary_dim > 0 && !positions)) return BTK_INVALID_ARGUMENT;
  for (int64_t i = 0; rotary->rotary_dim > 0 && i < batch * seq_len; ++i)
    if (positions[i] < 0 || positions[i] >= rotary->table_rows) return BTK_INVALID_ARGUMENT;
  if (y != x) std::memcpy(y, x, sizeof(float) * elements);
  if (rotary->rotary_dim == 0) return BTK_OK;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t s = 0; s < seq_len; ++s)
      btk::rotate_heads(*rotary, y + (b * heads * seq_len + s) * head_dim, heads, seq_len * head_dim, head_dim,
                        positions[b * seq_len + s]);
  return BTK_OK;
}

btk_status btk_attention_with_kv_cache(const btk_kv_cache_problem* problem, const float* q, const float* k,
                                       const float* v, float* key_cache, float* value_cache, float* out,
                                       int32_t* lengths) {
  if (!problem) return BTK_INVALID_ARGUMENT;
  return btk::run_attention_with_kv_cache(btk::active_kernels(), *problem, q, k, v, key_cache, value_cache, out,
                                          lengths);
}

btk_status btk_transformer_decoder_stack(const btk_decoder* model, const btk_decoder_step* step) {
  if (!model || !step) return BTK_INVALID_ARGUMENT;
  return btk::run_decoder_stack(btk::active_kernels(), *model, *step);
}

btk_status btk_reorder_cache(float* key_cache, float* value_cache, int32_t* lengths, const int32_t* source_rows,
                             int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim) {
  return btk::run_reorder_cache(key_cache, value_cache, lengths, source_rows, num_layers, batch, kv_heads, capacity,
                                head_dim);
}

btk_status btk_transformer_encoder_stack(const btk_encoder_layer_params* layers, int64_t num_layers, const float* x,
                                         int64_t batch, int64_t seq_len, int64_t embed_dim, const uint8_t* key_padding,
                                         const float* attention_bias, int64_t bias_batch, float* y) {
  return btk::run_encoder_stack(btk::active_kernels(), layers, num_layers, x, batch, seq_len, embed_dim, key_padding,
                                attention_bias, bias_batch, y);
}

btk_status btk_transformer_encoder_layer(const btk_encoder_layer_params* layer, const float* x, int64_t batch,
                                         int64_t seq_len, int64_t embed_dim, const uint8_t* key_padding,
                                         const float* attention_bias, int64_t bias_batch, float* y) {
  if (!layer) return BTK_INVALID_ARGUMENT;
  return btk_transformer_encoder_stack(layer, 1, x, batch, seq_len, embed_dim, key_padding, attention_bias, bias_batch,
                                       y);
}

const char* btk_isa_name(void) { return btk::isa_name(btk::active_kernels().isa); }
int btk_num_threads(void) { return btk::thread_count(); }
const char* btk_version(void) { return BTK_VERSION; }

}  // extern "C"
