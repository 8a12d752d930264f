/*
 * btk: the C ABI of the native CPU core (fused scaled dot-product attention
 * and transformer encoder layers on float32). A plain C interface so that the
 * Node-API addon, the TensorFlow op library, tests and any later binding (WASM)
 * share one entry point and no C++ types cross it.
 *
 * One function per op, named as the op is everywhere else (the tfjs kernels,
 * the addon's functions, the TensorFlow ops, the CUDA ABI):
 *   ScaledDotProductAttention      btk_scaled_dot_product_attention
 *   ScaledDotProductAttentionGrad  btk_scaled_dot_product_attention_grad
 *   TransformerEncoderLayer        btk_transformer_encoder_layer
 *   TransformerEncoderStack        btk_transformer_encoder_stack
 * The other functions (packed weights, GEMM) are building blocks, not ops.
 *
 * Conventions: all tensors are contiguous row-major float32 unless stated;
 * functions validate shapes and pointers they can check and return a status,
 * but they cannot check buffer lengths: callers (the addon) must.
 */
#ifndef BTK_H_
#define BTK_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum btk_status {
  BTK_OK = 0,
  BTK_INVALID_ARGUMENT = 1,
  BTK_OUT_OF_MEMORY = 2
} btk_status;

typedef enum btk_mask_kind {
  BTK_MASK_NONE = 0,
  BTK_MASK_BOOL = 1,  /* uint8, nonzero = attend */
  BTK_MASK_FLOAT = 2  /* float32, added to the scaled score */
} btk_mask_kind;

typedef enum btk_activation {
  BTK_ACTIVATION_NONE = 0,
  BTK_ACTIVATION_RELU = 1,
  BTK_ACTIVATION_GELU_ERF = 2,
  BTK_ACTIVATION_GELU_TANH = 3
} btk_activation;

/* Scaled dot-product attention: q [B,H,Sq,D], k [B,Hkv,Sk,D], v [B,Hkv,Sk,Dv],
 * out [B,H,Sq,Dv], lse [B,H,Sq]. Query head h reads kv head h / (H / Hkv). */
typedef struct btk_sdpa_problem {
  int64_t batch, heads, kv_heads, q_len, kv_len, head_dim, value_dim;
  float scale;
  int causal; /* bottom-right aligned: key j visible to query i iff j <= i + Sk - Sq */
  btk_mask_kind mask_kind;
  const void* mask;         /* uint8 or float, read at b*s0 + h*s1 + i*s2 + j*s3 */
  int64_t mask_strides[4];  /* element strides; 0 broadcasts that dimension */
  const uint8_t* key_padding; /* optional [B, Sk], nonzero = real key */
} btk_sdpa_problem;

btk_status btk_scaled_dot_product_attention(const btk_sdpa_problem* problem, const float* q, const float* k,
                                            const float* v, float* out, float* lse /* optional */);

/* Gradients of btk_scaled_dot_product_attention. dq/dk/dv have the shapes of q/k/v (dk, dv are
 * summed over the query heads sharing a kv head). d_mask (optional, float masks
 * only) is overwritten with the gradient accumulated into the mask's own
 * storage through its strides; it must hold as many elements as the mask. */
btk_status btk_scaled_dot_product_attention_grad(const btk_sdpa_problem* problem, const float* q, const float* k,
                                                 const float* v, const float* out, const float* lse,
                                                 const float* d_out, float* d_q, float* d_k, float* d_v,
                                                 float* d_mask /* optional */);

/* A [rows=in, cols=out] weight packed once into the active micro-kernel layout. */
typedef struct btk_packed_weight btk_packed_weight;

btk_packed_weight* btk_pack_weight(const float* weight, int64_t rows, int64_t cols);
void btk_free_packed_weight(btk_packed_weight* packed);
int64_t btk_packed_weight_rows(const btk_packed_weight* packed);
int64_t btk_packed_weight_cols(const btk_packed_weight* packed);
int64_t btk_packed_weight_bytes(const btk_packed_weight* packed);

/* c[m, n] = act(a[m, k] . w[k, n] + bias[n]) + residual[m, n]  (bias, residual optional;
 * residual must not alias c). Row strides lda, ldc, ld_residual in elements. */
btk_status btk_gemm(int64_t m, const float* a, int64_t lda, const btk_packed_weight* w,
                    float* c, int64_t ldc, const float* bias, btk_activation activation,
                    const float* residual, int64_t ld_residual);

/* One encoder layer's parameters. QKV is either packed (w_qkv [E,3E], b_qkv [3E])
 * or separate (w_q, w_k, w_v [E,E] with b_q, b_k, b_v); biases may be null (zero). */
typedef struct btk_encoder_layer_params {
  int64_t num_heads;
  const btk_packed_weight *w_qkv, *w_q, *w_k, *w_v, *w_o, *w_ffn1, *w_ffn2;
  const float *b_qkv, *b_q, *b_k, *b_v, *b_o, *b_ffn1, *b_ffn2;
  const float *ln1_gamma, *ln1_beta, *ln2_gamma, *ln2_beta; /* [E]; null = 1 / 0 */
  float ln1_eps, ln2_eps;
  btk_activation activation;
  int norm_first;        /* 0: post-norm (BERT), 1: pre-norm (GPT-2, ViT) */
  int causal;
  float attention_scale; /* NaN: 1/sqrt(head_dim); otherwise used as is (0 too: set it explicitly) */
} btk_encoder_layer_params;

/* y[B,S,E] = layers applied in order to x[B,S,E]. Only real tokens (key_padding
 * nonzero; all tokens when key_padding is null) are computed; padded rows of y are 0.
 * The tokens stay packed between layers; no layers copies the real rows. */
btk_status btk_transformer_encoder_stack(const btk_encoder_layer_params* layers, int64_t num_layers,
                                         const float* x, int64_t batch, int64_t seq_len, int64_t embed_dim,
                                         const uint8_t* key_padding, float* y);

/* One encoder layer: btk_transformer_encoder_stack with that layer alone. */
btk_status btk_transformer_encoder_layer(const btk_encoder_layer_params* layer, const float* x, int64_t batch,
                                         int64_t seq_len, int64_t embed_dim, const uint8_t* key_padding, float* y);

const char* btk_isa_name(void);   /* "avx512", "avx2" or "scalar" */
int btk_num_threads(void);
const char* btk_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BTK_H_ */
