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
 *   RmsNorm                        btk_rms_norm
 *   RotaryEmbedding                btk_rotary_embedding
 *   AttentionWithKVCache           btk_attention_with_kv_cache
 *   TransformerDecoderStack        btk_transformer_decoder_stack
 *   ReorderCache                   btk_reorder_cache
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
  BTK_ACTIVATION_GELU_TANH = 3,
  BTK_ACTIVATION_SILU = 4  /* x * sigmoid(x) (SwiGLU's gate) */
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

/* The norms both encoders and decoders use. */
typedef enum btk_norm_kind {
  BTK_NORM_LAYER = 0,  /* LayerNorm: (x - mean) / sqrt(var + eps) * gamma + beta */
  BTK_NORM_RMS = 1     /* RMSNorm: x / sqrt(mean(x^2) + eps) * gamma */
} btk_norm_kind;

/* One encoder layer's parameters. QKV is either packed (w_qkv [E,3E], b_qkv [3E])
 * or separate (w_q, w_k, w_v [E,E] with b_q, b_k, b_v); every bias may be null (zero).
 * MLP: ffn2(act(ffn1(x))), or ffn2(act(gate(x)) * ffn1(x)) when gated_mlp (T5 v1.1's gated-gelu:
 * gate = wi_0, ffn1 = wi_1), w_gate [E, F] like w_ffn1. With norm_kind BTK_NORM_RMS both norms are
 * RMSNorms: their betas must be null. */
typedef struct btk_encoder_layer_params {
  int64_t num_heads;
  const btk_packed_weight *w_qkv, *w_q, *w_k, *w_v, *w_o, *w_ffn1, *w_ffn2;
  const float *b_qkv, *b_q, *b_k, *b_v, *b_o, *b_ffn1, *b_ffn2;
  const float *ln1_gamma, *ln1_beta, *ln2_gamma, *ln2_beta; /* [E]; null = 1 / 0 */
  float ln1_eps, ln2_eps;
  btk_activation activation;
  int norm_first;        /* 0: post-norm (BERT), 1: pre-norm (GPT-2, ViT, T5) */
  int causal;
  float attention_scale; /* NaN: 1/sqrt(head_dim); otherwise used as is (0 too: set it explicitly; T5: 1) */
  btk_norm_kind norm_kind;            /* zero-initialised: LayerNorm */
  int gated_mlp;
  const btk_packed_weight* w_gate;    /* [E, F]; gated_mlp only (null otherwise) */
  const float* b_gate;                /* [F] or null */
} btk_encoder_layer_params;

/* y[B,S,E] = layers applied in order to x[B,S,E]. Only real tokens (key_padding
 * nonzero; all tokens when key_padding is null) are computed; padded rows of y are 0.
 * The tokens stay packed between layers; no layers copies the real rows.
 * attention_bias (optional; T5's relative position bias, computed once per forward):
 * [bias_batch, H, S, S] float32 with bias_batch 1 (shared by the batch) or B, 0 without it;
 * every layer then needs the same num_heads H. Element [b', h, i, j] (b' = b or 0) is added to
 * the scaled score of query position i and key position j of sequence b in every layer's
 * attention, before padded keys are excluded and the causal rule applied; i and j are the
 * original (unpacked) positions, so padded positions of the bias are never read. */
btk_status btk_transformer_encoder_stack(const btk_encoder_layer_params* layers, int64_t num_layers,
                                         const float* x, int64_t batch, int64_t seq_len, int64_t embed_dim,
                                         const uint8_t* key_padding, const float* attention_bias,
                                         int64_t bias_batch, float* y);

/* One encoder layer: btk_transformer_encoder_stack with that layer alone. */
btk_status btk_transformer_encoder_layer(const btk_encoder_layer_params* layer, const float* x, int64_t batch,
                                         int64_t seq_len, int64_t embed_dim, const uint8_t* key_padding,
                                         const float* attention_bias, int64_t bias_batch, float* y);

/* A bfloat16 copy (round to nearest even) of a [rows=in, cols=out] weight, read from memory laid
 * out [rows][cols], or [cols][rows] when `transposed` is nonzero (an LM head tied to the word
 * embeddings), packed in the active kernels' layout; half the bytes of float32. Freed with
 * btk_free_packed_weight; usable wherever a btk_packed_weight is (btk_gemm, btk_weight.packed). */
btk_packed_weight* btk_pack_weight_bf16(const float* weight, int64_t rows, int64_t cols, int transposed);

typedef enum btk_weight_format {
  BTK_WEIGHT_F32_PANELS = 0,  /* btk_pack_weight */
  BTK_WEIGHT_BF16 = 1         /* btk_pack_weight_bf16 */
} btk_weight_format;
btk_weight_format btk_packed_weight_format(const btk_packed_weight* packed);

/* y[rows, cols] = x / sqrt(mean(x^2 over the row) + eps) * gamma (gamma [cols], null = 1). y may be x. */
btk_status btk_rms_norm(int64_t rows, int64_t cols, const float* x, const float* gamma, float eps, float* y);

/* Rotary position embedding of x [batch, heads, seq, head_dim] at positions [batch, seq]
 * (int32, each in [0, table_rows)): for each pair (a, b) of the first rotary_dim features,
 * a' = a cos - b sin, b' = b cos + a sin with cos/sin = table[position][pair] ([table_rows,
 * rotary_dim / 2] float32). Pairs are (i, i + rotary_dim/2) ("rotate half": GPT-NeoX, Llama) or
 * (2i, 2i + 1) when interleaved (GPT-J); features past rotary_dim pass through. y may be x. */
typedef struct btk_rotary {
  int64_t rotary_dim;  /* even, <= head_dim */
  int interleaved;
  const float* cos;    /* [table_rows, rotary_dim / 2] */
  const float* sin;
  int64_t table_rows;
} btk_rotary;

btk_status btk_rotary_embedding(const btk_rotary* rotary, int64_t batch, int64_t heads, int64_t seq_len,
                                int64_t head_dim, const float* x, const int32_t* positions, float* y);

/* Attention over a preallocated key/value cache, appending in place. For each sequence b:
 * the first new_lengths[b] rows of k/v (its new tokens; the rest are padding, never read) are
 * written into the caches at rows [past_lengths[b], past_lengths[b] + new_lengths[b]), then each
 * new query i attends to cache rows [0, past + i] (bottom-right causal). Query rows past
 * new_lengths[b] output zeros. lengths[b] = past + new. past + new must not exceed the capacity.
 * q [B,H,n,D], k [B,Hkv,n,D], v [B,Hkv,n,Dv], caches [B,Hkv,capacity,D] and [B,Hkv,capacity,Dv],
 * out [B,H,n,Dv]; query head h reads kv head h / (H / Hkv). */
typedef struct btk_kv_cache_problem {
  int64_t batch, heads, kv_heads, new_len, capacity, head_dim, value_dim;
  float scale;
  const int32_t* past_lengths;  /* [batch] */
  const int32_t* new_lengths;   /* [batch], each in [0, new_len] */
} btk_kv_cache_problem;

btk_status btk_attention_with_kv_cache(const btk_kv_cache_problem* problem, const float* q, const float* k,
                                       const float* v, float* key_cache, float* value_cache, float* out,
                                       int32_t* lengths);

/* ---- A decoder-only language model's step (prefill or decode) -------------------------------- */

/* A projection weight, y = x . W with W [in_dim, out_dim], read in place from the caller's
 * float32 `data` (row-major [in_dim][out_dim]; [out_dim][in_dim] when `transposed`, as an LM
 * head tied to the word embeddings is) — or, when `packed` is set, from that packed copy
 * (btk_pack_weight, btk_pack_weight_bf16 of the same [in_dim, out_dim] weight; `transposed`
 * then does not matter) instead. A weight with neither is absent. */
typedef struct btk_weight {
  const float* data;
  int64_t in_dim, out_dim;
  int transposed;
  const btk_packed_weight* packed;
} btk_weight;

/* One decoder layer. QKV: one packed projection [E, (H + 2 Hkv) D] with columns q | k | v, or
 * three. MLP: down(act(up(x))), or down(act(gate(x)) * up(x)) when gated. Biases and betas may
 * be null (zero); gammas may be null (one). norm2 is unused when a parallel layer shares norm1.
 * Cross-attention (btk_decoder.cross_attention; absent otherwise): w_cross_q [E, H D],
 * w_cross_k / w_cross_v [E, Hkv D] (they fill the cross caches from the encoder states),
 * w_cross_o [H D, E], all four required; its norm (cross_norm_*) is of the model's norm_kind. */
typedef struct btk_decoder_layer {
  const float *norm1_gamma, *norm1_beta, *norm2_gamma, *norm2_beta;
  float norm1_eps, norm2_eps;
  btk_weight w_qkv, w_q, w_k, w_v, w_o, w_gate, w_up, w_down;
  const float *b_qkv, *b_q, *b_k, *b_v, *b_o, *b_gate, *b_up, *b_down;
  const float *cross_norm_gamma, *cross_norm_beta;
  float cross_norm_eps;
  btk_weight w_cross_q, w_cross_k, w_cross_v, w_cross_o;
  const float *b_cross_q, *b_cross_k, *b_cross_v, *b_cross_o;
} btk_decoder_layer;

typedef struct btk_decoder {
  int64_t num_layers, vocab_size, embed_dim, num_heads, num_kv_heads, head_dim;
  btk_norm_kind norm_kind;
  int norm_first;       /* 1: pre-norm (GPT-2, OPT, Llama); 0: post-norm */
  int parallel;         /* x + attn(n1(x)) + mlp(n2(x) or n1(x)) (GPT-J, GPT-NeoX) */
  int parallel_shared_norm; /* parallel with one norm for both branches (GPT-J) */
  btk_activation activation;
  int gated_mlp;
  float attention_scale;
  const float* word_embeddings;      /* [vocab_size, E] */
  float embedding_scale;             /* the embeddings are multiplied by it (1: none) */
  const float* position_embeddings;  /* learned [position_rows, E] or null */
  int64_t position_rows, position_offset; /* token at position p reads row p + offset */
  btk_rotary rotary;                 /* rotary_dim 0: none */
  const btk_decoder_layer* layers;
  int has_final_norm;
  const float *final_norm_gamma, *final_norm_beta;
  float final_norm_eps;
  btk_weight lm_head;                /* [E, vocab_size] (transposed: the [vocab, E] embeddings) */
  const float* lm_head_bias;
  /* Encoder-decoder models (T5, BART, Whisper): every layer attends to the encoder's states
   * (through the step's cross caches) after its self-attention:
   *   pre-norm:  x += self(n1(x)); x += cross(nc(x)); x += mlp(n2(x))
   *   post-norm: x = n1(x + self(x)); x = nc(x + cross(x)); x = n2(x + mlp(x))
   * Not with parallel layers. */
  int cross_attention;
  /* Optional [num_heads, position_bias_rows]: the self-attention score of a query at position i
   * and a key at j <= i gains position_bias[h * rows + i - j] (T5's relative bias, per distance);
   * every position must then be below position_bias_rows. */
  const float* position_bias;
  int64_t position_bias_rows;
  /* BART's layernorm_embedding: x = norm(embedding_scale * word + position) before layer 0, of the
   * model's norm_kind (gamma null = 1, beta null = 0). */
  int has_embedding_norm;
  const float *embedding_norm_gamma, *embedding_norm_beta;
  float embedding_norm_eps;
  /* With has_embedding_norm: x = norm(embedding_scale * word) + position instead (BlenderbotSmall's
   * decoder normalises the token embeddings alone). */
  int embedding_norm_before_positions;
} btk_decoder;

typedef enum btk_logits_rows {
  BTK_LOGITS_LAST = 0,  /* [batch, vocab]: each sequence's last new token (zeros if it has none) */
  BTK_LOGITS_ALL = 1    /* [batch, new_len, vocab]: every new token (padding rows zero) */
} btk_logits_rows;

/* One step over new tokens of a batch: embeds input_ids [batch, new_len] (int32; row b's ids
 * past new_lengths[b] are padding, never read) at positions past_lengths[b] + i, runs every
 * layer (the keys/values of the new tokens appended in place to the caches [num_layers, batch,
 * num_kv_heads, capacity, head_dim], attention over cache rows [0, position]) and the final
 * norm and LM head on the rows `logits_rows` selects. lengths[b] = past + new.
 * With cross-attention: the cross caches [num_layers, batch, num_kv_heads, source_len, head_dim]
 * hold each layer's keys/values of the encoder states; when encoder_states [batch, source_len, E]
 * is given they are first computed into them in place (one product per layer over all batch x
 * source_len rows), else they are read as they are. source_mask [batch, source_len] (int32,
 * nonzero = real source token; null = all real) must leave every sequence a real token. */
typedef struct btk_decoder_step {
  int64_t batch, new_len, capacity;
  const int32_t* input_ids;
  const int32_t* past_lengths;
  const int32_t* new_lengths;
  float* key_cache;
  float* value_cache;
  btk_logits_rows logits_rows;
  float* logits;
  int32_t* lengths;
  int64_t source_len;               /* cross-attention only (else 0 and nulls) */
  const float* encoder_states;      /* null: the cross caches are already filled */
  const int32_t* source_mask;
  float* cross_key_cache;
  float* cross_value_cache;
} btk_decoder_step;

btk_status btk_transformer_decoder_stack(const btk_decoder* model, const btk_decoder_step* step);

/* Beam search: reorders the batch rows of a decoder's caches [num_layers, batch, kv_heads,
 * capacity, head_dim] in place: new row b = old row source_rows[b] (each in [0, batch), repeats
 * allowed), lengths[b] = old lengths[source_rows[b]] (each in [0, capacity]). Only a row's first
 * `length` positions are copied (the rest of a reordered row is left as it was). Scratch: the used
 * rows of one layer's sources at most, never a copy of the cache. */
btk_status btk_reorder_cache(float* key_cache, float* value_cache, int32_t* lengths, const int32_t* source_rows,
                             int64_t num_layers, int64_t batch, int64_t kv_heads, int64_t capacity, int64_t head_dim);

const char* btk_isa_name(void);   /* "avx512_bf16", "avx512", "avx2" or "scalar" */
int btk_num_threads(void);
const char* btk_version(void);

#ifdef __cplusplus
}
#endif

#endif /* BTK_H_ */
