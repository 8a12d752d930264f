/* C ABI of the CUDA kernels (libbt_cuda.so, built from kernels/cuda): fused
 * scaled dot-product attention and its gradient, the fused transformer encoder
 * layer and a stack of them, on float32 device buffers. Every entry point
 * validates its arguments before touching the GPU and returns a status code;
 * bt_cuda_last_error() gives the message of the last failure on the calling
 * thread. Nothing here aborts the process. The checks the CPU front ends make
 * too come from kernels/shared/problem_checks.h.
 *
 * One function per op, named as the op is everywhere else (the tfjs kernels,
 * the addon's functions, the CPU core's C ABI btk.h, the TensorFlow ops):
 *   ScaledDotProductAttention      bt_cuda_scaled_dot_product_attention
 *   ScaledDotProductAttentionGrad  bt_cuda_scaled_dot_product_attention_grad (+ _workspace_bytes)
 *   TransformerEncoderLayer        bt_cuda_transformer_encoder_layer (+ _workspace_bytes)
 *   TransformerEncoderStack        bt_cuda_transformer_encoder_stack (+ _workspace_bytes)
 *
 * Semantics are the package's (README.md, API section): bottom-right causal
 * alignment, masks combined, rows with no visible key give zeros (lse = -inf),
 * NaN propagates. Layouts are row-major and contiguous unless stated. */
#ifndef TFJS_BT_CUDA_BT_CUDA_H_
#define TFJS_BT_CUDA_BT_CUDA_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BT_CUDA_ABI_VERSION 2

enum bt_cuda_status {
  BT_CUDA_OK = 0,
  BT_CUDA_INVALID_ARGUMENT = 1,
  BT_CUDA_NO_DEVICE = 2,      /* no CUDA driver or no device */
  BT_CUDA_UNSUPPORTED = 3,    /* valid but not implemented on the GPU (e.g. D > 128) */
  BT_CUDA_RUNTIME_ERROR = 4,  /* a CUDA runtime call or kernel launch failed */
  BT_CUDA_CUBLAS_ERROR = 5
};

enum bt_cuda_precision {
  BT_CUDA_PRECISION_HIGHEST = 0, /* FP32 FMA everywhere (GEMMs: CUBLAS_COMPUTE_32F) */
  BT_CUDA_PRECISION_HIGH = 1     /* TF32 tensor cores, FP32 accumulation */
};

enum bt_cuda_mask_kind { BT_CUDA_MASK_NONE = 0, BT_CUDA_MASK_BOOL = 1, BT_CUDA_MASK_ADDITIVE = 2 };

enum bt_cuda_activation { BT_CUDA_GELU = 0, BT_CUDA_GELU_TANH = 1, BT_CUDA_RELU = 2 };

/* Largest head depth (D and Dv) the attention kernels take. */
#define BT_CUDA_MAX_HEAD_DEPTH 128

typedef struct bt_cuda_context bt_cuda_context;

/* Attention over q [B, H, Sq, D], k [B, Hkv, Sk, D], v [B, Hkv, Sk, Dv] (device memory). */
typedef struct bt_cuda_attention {
  int64_t batch, heads, kv_heads, q_seq, k_seq, depth, value_depth;
  float scale;
  int32_t is_causal;  /* bottom-right aligned: query i sees key j iff j <= i + (Sk - Sq) */
  int32_t precision;  /* enum bt_cuda_precision */
  const float* q;
  const float* k;
  const float* v;
  int32_t mask_kind;          /* enum bt_cuda_mask_kind */
  int32_t reserved0;
  const void* mask;           /* uint8 (nonzero = may attend) or float (added to scores) */
  int64_t mask_strides[4];    /* element strides over [B, H, Sq, Sk]; 0 = broadcast */
  const uint8_t* key_valid;   /* [B, Sk], nonzero = real key; null = all real */
  const int32_t* key_limit;   /* [B] or null: no real key at index >= key_limit[b] (lets tiles be skipped) */
  float* out;                 /* [B, H, Sq, Dv] */
  float* lse;                 /* [B, H, Sq] natural-log log-sum-exp, or null */
} bt_cuda_attention;

/* Gradients of the attention above. dq, dk, dv and dmask are overwritten. */
typedef struct bt_cuda_attention_grad {
  const float* dout; /* [B, H, Sq, Dv] */
  const float* out;  /* the forward's out */
  const float* lse;  /* the forward's lse */
  float* dq;         /* [B, H, Sq, D] */
  float* dk;         /* [B, Hkv, Sk, D] */
  float* dv;         /* [B, Hkv, Sk, Dv] */
  float* dmask;      /* additive mask only: the mask's own (broadcast) shape, addressed by mask_strides; or null */
  int64_t dmask_elements;
} bt_cuda_attention_grad;

/* One encoder layer over x [B, S, E]; weights in the Dense layout [in, out]. */
typedef struct bt_cuda_encoder {
  int64_t batch, seq, embed, ffn, num_heads;
  int32_t norm_first, is_causal, activation, precision;
  float eps1, eps2, scale;
  int32_t reserved0;
  const float* x;
  const float* qkv_weight; const float* qkv_bias;  /* packed [E, 3E], [3E]; or null and the three below */
  const float* q_weight; const float* k_weight; const float* v_weight;
  const float* q_bias; const float* k_bias; const float* v_bias;
  const float* out_weight; const float* out_bias;
  const float* ln1_gamma; const float* ln1_beta; const float* ln2_gamma; const float* ln2_beta;
  const float* ffn_in_weight; const float* ffn_in_bias; const float* ffn_out_weight; const float* ffn_out_bias;
  const uint8_t* key_valid_host; /* HOST memory [B, S], nonzero = real token; null = no padding */
  float* y;                      /* [B, S, E]; padding rows are written as exact zeros */
} bt_cuda_encoder;

/* Encoder layers applied in order to x [B, S, E]: layers[0] reads x, every
 * other layer the output of the one before, the last writes y (padding rows
 * exact zeros; no layers: y is x with padding rows zeroed). Each layer is
 * described as for bt_cuda_transformer_encoder_layer, with batch, seq and
 * embed equal to the stack's and x, y and key_valid_host null: the stack's are
 * used, and the activations between layers live in the workspace. */
typedef struct bt_cuda_encoder_stack {
  int64_t batch, seq, embed, num_layers;
  const float* x;
  const uint8_t* key_valid_host; /* HOST memory [B, S], nonzero = real token; null = no padding */
  float* y;
  const bt_cuda_encoder* layers; /* HOST memory, num_layers entries */
} bt_cuda_encoder_stack;

int bt_cuda_abi_version(void);
/* sizeof of the argument structs, so bindings can check their layout. */
void bt_cuda_struct_sizes(size_t* attention, size_t* attention_grad, size_t* encoder, size_t* encoder_stack);
const char* bt_cuda_last_error(void);
const char* bt_cuda_status_name(int status);

/* A context owns a non-blocking stream on `device`, a cuBLASLt handle and its workspace. */
int bt_cuda_context_create(int device, bt_cuda_context** out);
void bt_cuda_context_destroy(bt_cuda_context* ctx);
/* The context's stream (a cudaStream_t), for callers that order other work after ours. */
void* bt_cuda_context_stream(bt_cuda_context* ctx);

/* Ordering calls for hosts that cannot hand us their stream (TensorFlow's stock GPU device):
 * wait_device blocks until all work queued on the context's device by any stream has finished;
 * synchronize blocks until the context's stream is idle. */
int bt_cuda_wait_device(bt_cuda_context* ctx);
int bt_cuda_synchronize(bt_cuda_context* ctx);
/* Host-to-device copy on the context's stream (the host buffer may be reused on return). */
int bt_cuda_upload(bt_cuda_context* ctx, void* device_dst, const void* host_src, size_t bytes);

/* `stream` is a cudaStream_t to run on, or null for the context's stream. A workspace is device
 * memory of at least the bytes its _workspace_bytes function gives for the same arguments. */
int bt_cuda_scaled_dot_product_attention(bt_cuda_context* ctx, const bt_cuda_attention* a, void* stream);
int bt_cuda_scaled_dot_product_attention_grad_workspace_bytes(const bt_cuda_attention* a, size_t* bytes);
int bt_cuda_scaled_dot_product_attention_grad(bt_cuda_context* ctx, const bt_cuda_attention* a,
                                              const bt_cuda_attention_grad* g, void* workspace,
                                              size_t workspace_bytes, void* stream);

int bt_cuda_transformer_encoder_layer_workspace_bytes(const bt_cuda_encoder* e, size_t* bytes);
int bt_cuda_transformer_encoder_layer(bt_cuda_context* ctx, const bt_cuda_encoder* e, void* workspace,
                                      size_t workspace_bytes, void* stream);

int bt_cuda_transformer_encoder_stack_workspace_bytes(const bt_cuda_encoder_stack* s, size_t* bytes);
int bt_cuda_transformer_encoder_stack(bt_cuda_context* ctx, const bt_cuda_encoder_stack* s, void* workspace,
                                      size_t workspace_bytes, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* TFJS_BT_CUDA_BT_CUDA_H_ */
