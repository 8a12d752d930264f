/* C ABI of the CUDA kernels (libbt_cuda.so, built from kernels/cuda): fused
 * scaled dot-product attention and its gradient, the fused transformer encoder
 * layer and a stack of them, the decoding ops (RMSNorm, rotary embeddings,
 * attention over a key/value cache appended in place, a decoder's step with
 * cross-attention for encoder-decoder models, the beam-search cache reorder),
 * and the graph ops LayerNorm and the embedding sum, on float32 device buffers. Every entry point
 * validates its arguments before touching the GPU and returns a status code;
 * bt_cuda_last_error() gives the message of the last failure on the calling
 * thread. Nothing here aborts the process. The checks the CPU front ends make
 * too come from kernels/shared/problem_checks.h.
 *
 * One function per op, named as the op is everywhere else (the tfjs kernels,
 * the addon's functions, the CPU core's C ABI btk.h, the TensorFlow ops):
 *   ScaledDotProductAttention      bt_cuda_scaled_dot_product_attention (+ _workspace_bytes)
 *   ScaledDotProductAttentionGrad  bt_cuda_scaled_dot_product_attention_grad (+ _workspace_bytes)
 *   TransformerEncoderLayer        bt_cuda_transformer_encoder_layer (+ _workspace_bytes)
 *   TransformerEncoderStack        bt_cuda_transformer_encoder_stack (+ _workspace_bytes)
 *   RmsNorm                        bt_cuda_rms_norm
 *   RotaryEmbedding                bt_cuda_rotary_embedding (+ _workspace_bytes)
 *   AttentionWithKVCache           bt_cuda_attention_with_kv_cache (+ _workspace_bytes)
 *   TransformerDecoderStack        bt_cuda_transformer_decoder_stack (+ _workspace_bytes)
 *   ReorderCache                   bt_cuda_reorder_cache (+ _workspace_bytes)
 *   LayerNorm                      bt_cuda_layer_norm
 *   EmbeddingSum                   bt_cuda_embedding_sum (+ _workspace_bytes)
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

#define BT_CUDA_ABI_VERSION 4

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
  BT_CUDA_PRECISION_HIGH = 1,    /* TF32 tensor cores, FP32 accumulation */
  BT_CUDA_PRECISION_MEDIUM = 2   /* BF16 tensor cores, FP32 accumulation and softmax statistics (ABI 4) */
};

enum bt_cuda_mask_kind { BT_CUDA_MASK_NONE = 0, BT_CUDA_MASK_BOOL = 1, BT_CUDA_MASK_ADDITIVE = 2 };

/* The encoder layers take GELU, GELU_TANH and RELU; the decoder also SILU (x * sigmoid(x)). */
enum bt_cuda_activation { BT_CUDA_GELU = 0, BT_CUDA_GELU_TANH = 1, BT_CUDA_RELU = 2, BT_CUDA_SILU = 3 };

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

/* ---- Decoding (the semantics of the CPU core's btk.h functions of the same names) ----
 * Values that decide which memory is touched (positions, token ids, cache lengths) are read
 * from HOST memory (the _host fields) and checked before any kernel runs; they travel to the
 * device in the caller's workspace. */

/* y[rows, width] = x / sqrt(mean(x^2 over the row) + eps) * gamma. */
typedef struct bt_cuda_rms_norm_args {
  int64_t rows, width;
  float eps;
  int32_t reserved0;
  const float* x;      /* [rows, width] */
  const float* gamma;  /* [width], or null (ones) */
  float* y;            /* [rows, width]; may be x */
} bt_cuda_rms_norm_args;

/* Rotary position embedding of x [B, H, S, D] at positions [B, S] (host): for each pair (a, b)
 * of the first rotary_dim features, a' = a cos - b sin, b' = b cos + a sin with cos/sin the
 * tables' row at the position; pairs (i, i + rotary_dim / 2), or (2i, 2i + 1) when interleaved;
 * the other features pass through. */
typedef struct bt_cuda_rotary_args {
  int64_t batch, heads, seq, head_dim, rotary_dim, table_rows;
  int32_t interleaved, reserved0;
  const float* x;                 /* [B, H, S, D] */
  const int32_t* positions_host;  /* HOST [B, S], each in [0, table_rows) */
  const float* cos;               /* [table_rows, rotary_dim / 2] */
  const float* sin;
  float* y;                       /* [B, H, S, D]; may be x */
} bt_cuda_rotary_args;

/* Attention over a preallocated key/value cache, appending in place (btk_attention_with_kv_cache):
 * the first new_lengths[b] rows of k/v go to cache rows [past_b, past_b + new_b); new query i
 * attends to cache rows [0, past_b + i]; query rows past new_lengths[b] output zeros; query
 * head h reads kv head h / (H / Hkv). */
typedef struct bt_cuda_kv_cache {
  int64_t batch, heads, kv_heads, new_len, capacity, head_dim, value_dim;
  float scale;
  int32_t precision;               /* enum bt_cuda_precision (decode steps are FP32 in both) */
  const float* q;                  /* [B, H, N, D] */
  const float* k;                  /* [B, Hkv, N, D] */
  const float* v;                  /* [B, Hkv, N, Dv] */
  float* key_cache;                /* [B, Hkv, C, D], appended in place */
  float* value_cache;              /* [B, Hkv, C, Dv] */
  const int32_t* past_lengths_host; /* HOST [B] */
  const int32_t* new_lengths_host;  /* HOST [B], each in [0, N]; past + new <= C */
  float* out;                      /* [B, H, N, Dv] */
  int32_t* lengths_host;           /* HOST [B] or null: receives past + new */
} bt_cuda_kv_cache;

enum bt_cuda_norm_kind { BT_CUDA_NORM_LAYER = 0, BT_CUDA_NORM_RMS = 1 };
enum bt_cuda_logits_rows { BT_CUDA_LOGITS_LAST = 0, BT_CUDA_LOGITS_ALL = 1 };

/* One decoder layer's weights (device memory, [in, out] row-major). QKV packed ([E, (H + 2 Hkv) D],
 * columns q | k | v) or three projections; biases, betas null = 0, gammas null = 1; gate only
 * for a gated MLP (down(act(gate(x)) * up(x))); norm2 unused by a parallel layer sharing norm1.
 * Cross-attention (bt_cuda_decoder.cross_attention; all null otherwise, ABI 4): cross_q_weight
 * [E, H D], cross_k_weight and cross_v_weight [E, Hkv D] (they fill the cross caches from the
 * encoder states), cross_out_weight [H D, E], all four required; its norm (cross_norm_*) is of
 * the model's norm_kind. */
typedef struct bt_cuda_decoder_layer {
  const float* norm1_gamma; const float* norm1_beta; const float* norm2_gamma; const float* norm2_beta;
  float norm1_eps, norm2_eps;
  const float* qkv_weight; const float* qkv_bias;
  const float* q_weight; const float* q_bias; const float* k_weight; const float* k_bias;
  const float* v_weight; const float* v_bias;
  const float* out_weight; const float* out_bias;
  const float* gate_weight; const float* gate_bias;
  const float* up_weight; const float* up_bias; const float* down_weight; const float* down_bias;
  const float* cross_norm_gamma; const float* cross_norm_beta;
  float cross_norm_eps;
  int32_t reserved0;
  const float* cross_q_weight; const float* cross_q_bias; const float* cross_k_weight; const float* cross_k_bias;
  const float* cross_v_weight; const float* cross_v_bias; const float* cross_out_weight; const float* cross_out_bias;
} bt_cuda_decoder_layer;

/* A decoder-only language model, or an encoder-decoder model's decoder (btk_decoder). */
typedef struct bt_cuda_decoder {
  int64_t num_layers, vocab_size, embed_dim, num_heads, num_kv_heads, head_dim, ffn_dim;
  int32_t norm_kind;             /* enum bt_cuda_norm_kind */
  int32_t norm_first;            /* 1: pre-norm; 0: post-norm */
  int32_t parallel;              /* x + attn(n1(x)) + mlp(n2(x) or n1(x)) */
  int32_t parallel_shared_norm;
  int32_t activation;            /* enum bt_cuda_activation */
  int32_t gated_mlp;
  int32_t precision;             /* enum bt_cuda_precision: the GEMMs' and the prompt attention's */
  int32_t has_final_norm;
  int32_t lm_head_transposed;    /* lm_head is [vocab, E] (tied to the word embeddings) */
  int32_t rotary_interleaved;
  float attention_scale, embedding_scale, final_norm_eps;
  int32_t reserved0;
  const float* word_embeddings;      /* [vocab, E] */
  const float* position_embeddings;  /* learned [position_rows, E], or null */
  int64_t position_rows, position_offset;  /* a token at position p reads row p + offset */
  const float* rotary_cos;           /* [rotary_rows, rotary_dim / 2], or null (rotary_dim 0) */
  const float* rotary_sin;
  int64_t rotary_dim, rotary_rows;
  const float* final_norm_gamma; const float* final_norm_beta;
  const float* lm_head;              /* [E, vocab], or [vocab, E] when lm_head_transposed */
  const float* lm_head_bias;         /* [vocab] or null */
  const bt_cuda_decoder_layer* layers; /* HOST memory, num_layers entries */
  /* Encoder-decoder models (T5, BART, Marian; ABI 4). cross_attention: every layer attends to the
   * encoder's states (through the step's cross caches) after its self-attention:
   *   pre-norm:  x += self(n1(x)); x += cross(nc(x)); x += mlp(n2(x))
   *   post-norm: x = n1(x + self(x)); x = nc(x + cross(x)); x = n2(x + mlp(x))
   * Not with parallel layers. */
  int32_t cross_attention;
  /* BART's layernorm_embedding: x = norm(embedding_scale * word + position) before layer 0, of the
   * model's norm_kind (gamma null = 1, beta null = 0); with embedding_norm_before_positions
   * x = norm(embedding_scale * word) + position (BlenderbotSmall). */
  int32_t has_embedding_norm;
  int32_t embedding_norm_before_positions;
  float embedding_norm_eps;
  const float* embedding_norm_gamma; const float* embedding_norm_beta;
  /* [num_heads, position_bias_rows] or null (T5's relative bias, per distance): the self-attention
   * score of a query at position i and a visible key at j <= i gains position_bias[h * rows + i - j];
   * every position of a step must then be below position_bias_rows. */
  const float* position_bias;
  int64_t position_bias_rows;
} bt_cuda_decoder;

/* One step over new tokens (btk_decoder_step): input_ids [B, N] (row b's first new_lengths[b]
 * ids are its new tokens at positions past_lengths[b] + i; the rest is never read), caches
 * [num_layers, B, Hkv, C, D] appended in place, logits [B, vocab] of each sequence's last new
 * token (LAST) or [B, N, vocab] (ALL); rows without a token are zeros.
 * With cross-attention: the cross caches [num_layers, B, Hkv, S, D] (S = source_len >= 1 when
 * B > 0) hold each layer's keys/values of the encoder states; when encoder_states [B, S, E] is
 * given they are first computed into them in place (one product per layer and projection over all
 * B x S rows, also on a step without new tokens), else they are read as they are. The new tokens
 * attend to all S rows of their sequence (no causal rule) but those source_mask_host marks as
 * padding. Without cross-attention source_len is 0 and the four pointers null. */
typedef struct bt_cuda_decoder_step {
  int64_t batch, new_len, capacity;
  int32_t logits_rows;              /* enum bt_cuda_logits_rows */
  int32_t reserved0;
  const int32_t* input_ids_host;    /* HOST [B, N] */
  const int32_t* past_lengths_host; /* HOST [B] */
  const int32_t* new_lengths_host;  /* HOST [B] */
  float* key_cache;                 /* [layers, B, Hkv, C, D] */
  float* value_cache;
  float* logits;
  int32_t* lengths_host;            /* HOST [B] or null: receives past + new */
  int64_t source_len;               /* S (ABI 4: the fields below are cross-attention's) */
  const float* encoder_states;      /* [B, S, E], or null: the cross caches are already filled */
  const int32_t* source_mask_host;  /* HOST [B, S], nonzero = real source token (each row needs one); null = all real */
  float* cross_key_cache;           /* [layers, B, Hkv, S, D] */
  float* cross_value_cache;
} bt_cuda_decoder_step;

int bt_cuda_abi_version(void);
/* sizeof of the argument structs, so bindings can check their layout. */
void bt_cuda_struct_sizes(size_t* attention, size_t* attention_grad, size_t* encoder, size_t* encoder_stack);
/* sizeof of the decoding structs (ABI 3; the decoder's three grew in ABI 4). */
void bt_cuda_decoder_struct_sizes(size_t* rms_norm, size_t* rotary, size_t* kv_cache, size_t* decoder_layer,
                                  size_t* decoder, size_t* decoder_step);
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
/* The forward's workspace is empty except at precision MEDIUM, where it holds bfloat16 copies of
 * q, k and v (ABI 4; before it the forward took no workspace). */
int bt_cuda_scaled_dot_product_attention_workspace_bytes(const bt_cuda_attention* a, size_t* bytes);
int bt_cuda_scaled_dot_product_attention(bt_cuda_context* ctx, const bt_cuda_attention* a, void* workspace,
                                         size_t workspace_bytes, void* stream);
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

/* Decoding. RMSNorm needs no workspace; the others' workspaces carry the host tables (positions,
 * lengths, token rows) to the device, and their scratch. */
int bt_cuda_rms_norm(bt_cuda_context* ctx, const bt_cuda_rms_norm_args* a, void* stream);

int bt_cuda_rotary_embedding_workspace_bytes(const bt_cuda_rotary_args* a, size_t* bytes);
int bt_cuda_rotary_embedding(bt_cuda_context* ctx, const bt_cuda_rotary_args* a, void* workspace,
                             size_t workspace_bytes, void* stream);

int bt_cuda_attention_with_kv_cache_workspace_bytes(const bt_cuda_kv_cache* a, size_t* bytes);
int bt_cuda_attention_with_kv_cache(bt_cuda_context* ctx, const bt_cuda_kv_cache* a, void* workspace,
                                    size_t workspace_bytes, void* stream);

int bt_cuda_transformer_decoder_stack_workspace_bytes(const bt_cuda_decoder* model, const bt_cuda_decoder_step* step,
                                                      size_t* bytes);
int bt_cuda_transformer_decoder_stack(bt_cuda_context* ctx, const bt_cuda_decoder* model,
                                      const bt_cuda_decoder_step* step, void* workspace, size_t workspace_bytes,
                                      void* stream);


/* ---- The graph ops and beam search (kernels/cuda/bt_cuda_api_graph_ops.cu) ----
 *   LayerNorm     bt_cuda_layer_norm
 *   EmbeddingSum  bt_cuda_embedding_sum (+ _workspace_bytes)
 *   ReorderCache  bt_cuda_reorder_cache (+ _workspace_bytes)
 * Semantics of the ops of the same names (docs/ops/). Values that decide which memory is read
 * (row ids, source rows, lengths) are HOST memory, checked before any device work; the
 * workspace carries them to the device. */

/* y[rows, width] = (x - mean) / sqrt(var + eps) * gamma + beta over each row (biased variance). */
typedef struct bt_cuda_layer_norm_args {
  int64_t rows, width;
  float eps;
  int32_t reserved0;
  const float* x;      /* [rows, width] */
  const float* gamma;  /* [width], or null (ones) */
  const float* beta;   /* [width], or null (zeros) */
  float* y;            /* [rows, width]; may be x */
} bt_cuda_layer_norm_args;

/* y[r] = tables[0][row_ids[0][r]] + tables[1][row_ids[1][r]] + ... (rows of `width` floats, added in
 * term order), then, when has_norm, the LayerNorm above of every row (gamma, beta, eps). The caller
 * resolves lookups, constant terms and broadcasting to one table row per term and output row. */
typedef struct bt_cuda_embedding_sum_args {
  int64_t rows, width, num_terms;    /* num_terms >= 1 */
  int32_t has_norm;
  float eps;
  const float* const* tables_host;   /* HOST [num_terms] device pointers: table k is [table_rows_host[k], width] */
  const int64_t* table_rows_host;    /* HOST [num_terms] */
  const int32_t* row_ids_host;       /* HOST [num_terms, rows]: row_ids_host[k * rows + r] in [0, table_rows_host[k]) */
  const float* gamma;                /* [width] or null (ones); read only when has_norm */
  const float* beta;                 /* [width] or null (zeros) */
  float* y;                          /* [rows, width]; must not overlap a table */
} bt_cuda_embedding_sum_args;

/* Beam search (btk_reorder_cache): caches [num_layers, batch, kv_heads, capacity, head_dim] reordered
 * in place, new row b = old row source_rows[b] for its first lengths[source_rows[b]] positions (the
 * rest of a moved row is left as it was); new lengths[b] = lengths[source_rows[b]]. */
typedef struct bt_cuda_reorder_cache_args {
  int64_t num_layers, batch, kv_heads, capacity, head_dim;
  float* key_cache;                  /* device, reordered in place */
  float* value_cache;                /* device, the same shape; a buffer of its own */
  const int32_t* lengths_host;       /* HOST [batch], each in [0, capacity] */
  const int32_t* source_rows_host;   /* HOST [batch], each in [0, batch) (repeats allowed) */
  int32_t* new_lengths_host;         /* HOST [batch] or null: receives the new lengths; may be lengths_host */
} bt_cuda_reorder_cache_args;

/* sizeof of the structs above, so bindings can check their layout. */
void bt_cuda_graph_op_struct_sizes(size_t* layer_norm, size_t* embedding_sum, size_t* reorder_cache);

/* LayerNorm needs no workspace. EmbeddingSum's holds the row ids and the table pointers; ReorderCache's
 * the row tables and a copy of the used rows of the sources that are themselves overwritten (one layer
 * of both caches at most). */
int bt_cuda_layer_norm(bt_cuda_context* ctx, const bt_cuda_layer_norm_args* a, void* stream);

int bt_cuda_embedding_sum_workspace_bytes(const bt_cuda_embedding_sum_args* a, size_t* bytes);
int bt_cuda_embedding_sum(bt_cuda_context* ctx, const bt_cuda_embedding_sum_args* a, void* workspace,
                          size_t workspace_bytes, void* stream);

int bt_cuda_reorder_cache_workspace_bytes(const bt_cuda_reorder_cache_args* a, size_t* bytes);
int bt_cuda_reorder_cache(bt_cuda_context* ctx, const bt_cuda_reorder_cache_args* a, void* workspace,
                          size_t workspace_bytes, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* TFJS_BT_CUDA_BT_CUDA_H_ */
