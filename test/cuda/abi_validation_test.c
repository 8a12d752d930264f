/* Checks the C ABI's argument validation and its behaviour without a GPU:
 * bad arguments give BT_CUDA_INVALID_ARGUMENT (or UNSUPPORTED) with a message,
 * never a crash; valid calls give BT_CUDA_NO_DEVICE where there is no driver or
 * device. On a GPU machine the device-dependent checks switch to asserting that
 * host pointers are refused. Built and run by tools/build-cuda.sh. */
#define _POSIX_C_SOURCE 200112L /* setenv */
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "abi_test.h"
#include "bt_cuda.h"

static float host_q[2 * 4 * 3 * 8], host_k[2 * 2 * 5 * 8], host_v[2 * 2 * 5 * 8], host_out[2 * 4 * 3 * 8],
    host_lse[2 * 4 * 3];

static bt_cuda_attention valid_attention(void) {
  bt_cuda_attention a;
  memset(&a, 0, sizeof a);
  a.batch = 2; a.heads = 4; a.kv_heads = 2; a.q_seq = 3; a.k_seq = 5; a.depth = 8; a.value_depth = 8;
  a.scale = 0.35f;
  a.q = host_q; a.k = host_k; a.v = host_v; a.out = host_out; a.lse = host_lse;
  return a;
}

/* Encoder weights: one host buffer large enough for every weight of the small layers below. */
static float w[64 * 64];

static bt_cuda_encoder valid_encoder(void) {
  bt_cuda_encoder e;
  memset(&e, 0, sizeof e);
  e.batch = 2; e.seq = 4; e.embed = 12; e.ffn = 16; e.num_heads = 3; e.eps1 = e.eps2 = 1e-5f; e.scale = 0.5f;
  e.activation = BT_CUDA_RELU;
  e.x = e.y = w;
  e.qkv_weight = e.qkv_bias = e.out_weight = e.out_bias = e.ln1_gamma = e.ln1_beta = e.ln2_gamma = e.ln2_beta = w;
  e.ffn_in_weight = e.ffn_in_bias = e.ffn_out_weight = e.ffn_out_bias = w;
  return e;
}

/* A stack layer: the layer above without its own x, y and mask (the stack's are used). */
static bt_cuda_encoder stack_layer(int64_t ffn) {
  bt_cuda_encoder e = valid_encoder();
  e.x = NULL; e.y = NULL; e.key_valid_host = NULL;
  e.ffn = ffn;
  return e;
}

static bt_cuda_encoder_stack valid_stack(const bt_cuda_encoder* layers, int64_t num_layers) {
  bt_cuda_encoder_stack s;
  memset(&s, 0, sizeof s);
  s.batch = 2; s.seq = 4; s.embed = 12; s.num_layers = num_layers;
  s.x = w; s.y = w + 96;
  s.layers = layers;
  return s;
}

static const uint8_t valid[8] = {1, 1, 0, 0, 1, 0, 0, 0};

static void attention_checks(void) {
  bt_cuda_attention a;
  expect("null attention", bt_cuda_scaled_dot_product_attention(NULL, NULL, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.kv_heads = 3;
  expect("H not a multiple of Hkv", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.heads = 0;
  expect("H = 0", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.depth = 0;
  expect("depth 0", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.q_seq = -1;
  expect("negative Sq", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.depth = 200;
  expect("depth above 128", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_UNSUPPORTED);
  a = valid_attention(); a.batch = (int64_t)1 << 40; a.heads = (int64_t)1 << 40; a.kv_heads = 1;
  expect("B*H past int64", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_UNSUPPORTED);
  a = valid_attention(); a.precision = 7;
  expect("bad precision", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = 3;
  expect("bad mask kind", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = BT_CUDA_MASK_BOOL;
  expect("bool mask without data", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = BT_CUDA_MASK_ADDITIVE; a.mask = host_q; a.mask_strides[3] = -1;
  expect("negative mask stride", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = BT_CUDA_MASK_ADDITIVE; a.mask = host_q; a.mask_strides[3] = (int64_t)1 << 62;
  expect("mask strides past int64", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.q = NULL;
  expect("null q", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);

  size_t bytes = 0;
  a = valid_attention(); a.precision = 3;
  expect("precision past medium", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_INVALID_ARGUMENT);
  expect_message("precision past medium", "precision must be 0 (highest), 1 (high) or 2 (medium)");
  a = valid_attention();
  expect("forward workspace query", bt_cuda_scaled_dot_product_attention_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  check("no forward workspace at highest", bytes == 0);
  a.precision = BT_CUDA_PRECISION_HIGH;
  bt_cuda_scaled_dot_product_attention_workspace_bytes(&a, &bytes);
  check("no forward workspace at high", bytes == 0);
  a.precision = BT_CUDA_PRECISION_MEDIUM;
  expect("medium forward workspace query", bt_cuda_scaled_dot_product_attention_workspace_bytes(&a, &bytes),
         BT_CUDA_OK);
  /* bf16 copies, depth padded to 32: q 2*3*4*32*2 = 1536 bytes, k and v 2*5*2*32*2 = 1280 each (256-aligned). */
  check("medium forward workspace holds bf16 q, k, v", bytes == 1536 + 2 * 1280);
  expect("medium forward without workspace", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  expect("medium forward with a short workspace",
         bt_cuda_scaled_dot_product_attention(NULL, &a, host_q, bytes - 1, NULL), BT_CUDA_INVALID_ARGUMENT);
  expect("null workspace bytes", bt_cuda_scaled_dot_product_attention_workspace_bytes(&a, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention();
  expect("gradient workspace query", bt_cuda_scaled_dot_product_attention_grad_workspace_bytes(&a, &bytes),
         BT_CUDA_OK);
  check("gradient workspace is B*H*Sq floats", bytes == 2 * 4 * 3 * sizeof(float));
  bt_cuda_attention_grad g;
  memset(&g, 0, sizeof g);
  g.dout = host_out; g.out = host_out; g.lse = host_lse; g.dq = host_q; g.dk = host_k; g.dv = host_v;
  expect("gradient without workspace", bt_cuda_scaled_dot_product_attention_grad(NULL, &a, &g, NULL, 0, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  g.dmask = host_q; g.dmask_elements = 4;
  expect("dmask without additive mask",
         bt_cuda_scaled_dot_product_attention_grad(NULL, &a, &g, host_lse, bytes, NULL), BT_CUDA_INVALID_ARGUMENT);
  a.mask_kind = BT_CUDA_MASK_ADDITIVE; a.mask = host_q; a.mask_strides[2] = 5; a.mask_strides[3] = 1;
  g.dmask_elements = 14;  /* an [Sq, Sk] mask reaches 15 elements */
  expect("dmask smaller than the mask's extent",
         bt_cuda_scaled_dot_product_attention_grad(NULL, &a, &g, host_lse, bytes, NULL), BT_CUDA_INVALID_ARGUMENT);
}

static void encoder_checks(size_t* padded_bytes) {
  size_t bytes = 0;
  bt_cuda_encoder e = valid_encoder();
  e.num_heads = 5;
  expect("E not a multiple of heads", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.num_heads = 0;
  expect("no heads", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.embed = 0;
  expect("E = 0", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.ffn = 0;
  expect("F = 0", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.seq = 2000000; e.embed = (int64_t)1 << 37; e.num_heads = (int64_t)1 << 30;
  expect("buffers past int64 bytes", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes),
         BT_CUDA_UNSUPPORTED);
  e = valid_encoder(); e.activation = 9;
  expect("bad activation", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.eps1 = NAN;
  expect("NaN eps", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e = valid_encoder(); e.out_weight = NULL;
  expect("encoder without a weight", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  size_t full = 0, padded = 0;
  e = valid_encoder();
  expect("encoder workspace query", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &full), BT_CUDA_OK);
  e.key_valid_host = valid;
  expect("padded encoder workspace query", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &padded),
         BT_CUDA_OK);
  check("padding shrinks the token buffers", padded > 0 && padded < full);
  expect("encoder with a small workspace", bt_cuda_transformer_encoder_layer(NULL, &e, w, 16, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  *padded_bytes = padded;

  /* 'medium': the attention's bf16 copies; converted GEMM operands only with BT_CUDA_MEDIUM_GEMM=convert,
   * and a workspace sized without it is refused when the variable is set for the call. */
  size_t medium = 0, converted = 0;
  e = valid_encoder(); e.precision = BT_CUDA_PRECISION_MEDIUM;
  expect("medium encoder workspace query", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &medium), BT_CUDA_OK);
  check("medium adds the attention's bf16 copies", medium > full);
  setenv("BT_CUDA_MEDIUM_GEMM", "convert", 1);
  expect("converted-GEMM workspace query", bt_cuda_transformer_encoder_layer_workspace_bytes(&e, &converted),
         BT_CUDA_OK);
  check("converted GEMMs add their bf16 operands", converted > medium);
  expect("converted GEMMs with the workspace sized without them",
         bt_cuda_transformer_encoder_layer(NULL, &e, w, medium, NULL), BT_CUDA_INVALID_ARGUMENT);
  unsetenv("BT_CUDA_MEDIUM_GEMM");
}

static size_t round256(size_t n) { return (n + 255) / 256 * 256; }

/* The stack's entry points: the layer's checks for every layer (with its index in the message),
 * the stack's own, and a workspace of the largest layer's plus the activations between layers. */
static void stack_checks(void) {
  size_t bytes = 0;
  bt_cuda_encoder layers[3] = {stack_layer(16), stack_layer(40), stack_layer(24)};
  bt_cuda_encoder_stack s;
  expect("null stack", bt_cuda_transformer_encoder_stack_workspace_bytes(NULL, &bytes), BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3);
  expect("stack workspace without bytes", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, -1);
  expect("negative num_layers", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(NULL, 2);
  expect("layers null", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes), BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3); s.embed = 0;
  expect("stack E = 0", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes), BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3); s.seq = -1;
  expect("stack negative seq", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3); s.x = NULL;
  expect("stack x null", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes), BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3); s.batch = (int64_t)1 << 31;
  expect("stack rows past the kernels' limits", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_UNSUPPORTED);
  s = valid_stack(layers, 3);
  layers[1].num_heads = 5;
  expect("layer 1 heads not dividing E", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the failing layer is named", "layers[1]: ");
  layers[1] = stack_layer(40); layers[1].embed = 24;
  expect("layer 1 of another E", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  layers[1] = stack_layer(40); layers[1].x = w;
  expect("layer 1 with its own x", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  layers[1] = stack_layer(40); layers[1].key_valid_host = valid;
  expect("layer 1 with its own mask", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  layers[1] = stack_layer(40); layers[1].ffn_out_bias = NULL;
  expect("layer 1 without a weight", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the layer without a weight is named", "layers[1]: ");
  layers[1] = stack_layer(40); layers[1].precision = 3;
  expect("layer 1 bad precision", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  layers[1] = stack_layer(40);
  layers[2].activation = 7;
  expect("layer 2 bad activation", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the last layer is named", "layers[2]: ");
  layers[2] = stack_layer(24);

  /* Workspaces: the largest layer's (F = 40 here) plus one [B, S, E] activation for two layers,
   * two from three on; none for one layer. */
  bt_cuda_encoder widest = layers[1];
  widest.x = w; widest.y = w + 96; widest.key_valid_host = valid;
  size_t layer_bytes = 0, one = 0, two = 0, three = 0, none = 0, none_padded = 0;
  expect("widest layer workspace", bt_cuda_transformer_encoder_layer_workspace_bytes(&widest, &layer_bytes),
         BT_CUDA_OK);
  const size_t activation = round256(2 * 4 * 12 * sizeof(float));
  s = valid_stack(layers + 1, 1); s.key_valid_host = valid;
  expect("one-layer stack workspace", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &one), BT_CUDA_OK);
  check("one layer: the layer's workspace", one == round256(layer_bytes));
  s = valid_stack(layers, 2); s.key_valid_host = valid;
  expect("two-layer stack workspace", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &two), BT_CUDA_OK);
  check("two layers: the widest layer's and one activation", two == round256(layer_bytes) + activation);
  s = valid_stack(layers, 3); s.key_valid_host = valid;
  expect("three-layer stack workspace", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &three), BT_CUDA_OK);
  check("three layers: the widest layer's and two activations", three == round256(layer_bytes) + 2 * activation);
  s = valid_stack(NULL, 0);
  expect("stack without layers", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &none), BT_CUDA_OK);
  check("no layers, no padding: no workspace", none == 0);
  s.key_valid_host = valid;
  expect("padded stack without layers", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &none_padded),
         BT_CUDA_OK);
  check("no layers, padding: a row table", none_padded == round256(2 * 4 * sizeof(int)));
  s = valid_stack(layers, 3); s.key_valid_host = valid;
  expect("stack with a small workspace", bt_cuda_transformer_encoder_stack(NULL, &s, w, three - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_stack(layers, 3); s.batch = 0;
  layers[0].batch = layers[1].batch = layers[2].batch = 0;
  expect("empty stack workspace", bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &bytes), BT_CUDA_OK);
  layers[0].batch = layers[1].batch = layers[2].batch = 2;
}

/* ---- decoding ---- */

static const int32_t past2[2] = {3, 0}, fresh2[2] = {2, 1}, ids2[4] = {5, 7, 1, 0};
static int32_t lengths2[2];

static bt_cuda_rms_norm_args valid_rms(void) {
  bt_cuda_rms_norm_args a;
  memset(&a, 0, sizeof a);
  a.rows = 3; a.width = 8; a.eps = 1e-6f; a.x = w; a.gamma = w; a.y = w + 64;
  return a;
}

static const int32_t positions[2 * 3] = {0, 1, 2, 3, 4, 5};

static bt_cuda_rotary_args valid_rotary(void) {
  bt_cuda_rotary_args a;
  memset(&a, 0, sizeof a);
  a.batch = 2; a.heads = 2; a.seq = 3; a.head_dim = 8; a.rotary_dim = 4; a.table_rows = 6;
  a.x = w; a.y = w + 128; a.cos = w; a.sin = w; a.positions_host = positions;
  return a;
}

static bt_cuda_kv_cache valid_kv(void) {
  bt_cuda_kv_cache a;
  memset(&a, 0, sizeof a);
  a.batch = 2; a.heads = 4; a.kv_heads = 2; a.new_len = 2; a.capacity = 6; a.head_dim = 8; a.value_dim = 8;
  a.scale = 0.35f;
  a.q = w; a.k = w; a.v = w; a.key_cache = w + 1024; a.value_cache = w + 2048; a.out = w + 3072;
  a.past_lengths_host = past2; a.new_lengths_host = fresh2; a.lengths_host = lengths2;
  return a;
}

static bt_cuda_decoder_layer decoder_layers[2];

static bt_cuda_decoder valid_decoder(void) {
  for (int l = 0; l < 2; ++l) {
    memset(&decoder_layers[l], 0, sizeof decoder_layers[l]);
    decoder_layers[l].norm1_eps = decoder_layers[l].norm2_eps = 1e-5f;
    decoder_layers[l].qkv_weight = w; decoder_layers[l].out_weight = w;
    decoder_layers[l].up_weight = w; decoder_layers[l].down_weight = w;
  }
  bt_cuda_decoder m;
  memset(&m, 0, sizeof m);
  m.num_layers = 2; m.vocab_size = 10; m.embed_dim = 16; m.num_heads = 4; m.num_kv_heads = 2; m.head_dim = 4;
  m.ffn_dim = 32; m.norm_first = 1; m.activation = BT_CUDA_GELU_TANH;
  m.attention_scale = 0.5f; m.embedding_scale = 1.f; m.final_norm_eps = 1e-5f; m.has_final_norm = 1;
  m.word_embeddings = w; m.lm_head = w;
  m.position_embeddings = w; m.position_rows = 8;
  m.layers = decoder_layers;
  return m;
}

static bt_cuda_decoder_step valid_step(void) {
  bt_cuda_decoder_step s;
  memset(&s, 0, sizeof s);
  s.batch = 2; s.new_len = 2; s.capacity = 6;
  s.input_ids_host = ids2; s.past_lengths_host = past2; s.new_lengths_host = fresh2;
  s.key_cache = w + 1024; s.value_cache = w + 2048; s.logits = w + 3072; s.lengths_host = lengths2;
  return s;
}

/* Encoder-decoder steps: B = 2 sequences over S = 3 source rows. */
static const int32_t source_mask2[6] = {1, 1, 0, 1, 0, 0}, no_source2[6] = {1, 0, 0, 0, 0, 0};
/* A prompt: 20 and 17 new tokens (past the decode kernel's 16), all id 0. */
static const int32_t prompt_past[2] = {0, 0}, prompt_fresh[2] = {20, 17}, prompt_ids[40] = {0};
static const int32_t no_new[2] = {0, 0};

/* T5-like: RMSNorm, pre-norm, the relative position bias, cross-attention with its caches filled from the
 * encoder states and a source mask. */
static void seq2seq_t5(bt_cuda_decoder* m, bt_cuda_decoder_step* s) {
  *m = valid_decoder();
  *s = valid_step();
  for (int l = 0; l < 2; ++l) {
    decoder_layers[l].cross_norm_eps = 1e-6f;
    decoder_layers[l].cross_q_weight = w; decoder_layers[l].cross_k_weight = w;
    decoder_layers[l].cross_v_weight = w; decoder_layers[l].cross_out_weight = w;
  }
  m->cross_attention = 1;
  m->norm_kind = BT_CUDA_NORM_RMS; m->has_final_norm = 1;
  m->position_embeddings = NULL; m->position_rows = 0;
  m->position_bias = w; m->position_bias_rows = 8;
  s->source_len = 3; s->encoder_states = w + 512; s->source_mask_host = source_mask2;
  s->cross_key_cache = w + 256; s->cross_value_cache = w + 384;
}

/* BART-like: LayerNorm, post-norm, learned positions, the embedding norm, cross caches already filled. */
static void seq2seq_bart(bt_cuda_decoder* m, bt_cuda_decoder_step* s) {
  seq2seq_t5(m, s);
  m->norm_kind = BT_CUDA_NORM_LAYER; m->norm_first = 0; m->has_final_norm = 0;
  m->position_bias = NULL; m->position_bias_rows = 0;
  m->position_embeddings = w; m->position_rows = 8; m->position_offset = 2;
  m->has_embedding_norm = 1; m->embedding_norm_eps = 1e-5f; m->embedding_norm_gamma = w; m->embedding_norm_beta = w;
  s->encoder_states = NULL; s->source_mask_host = NULL;
}

static void seq2seq_checks(void) {
  size_t bytes = 0;
  bt_cuda_decoder m;
  bt_cuda_decoder_step s;
  seq2seq_t5(&m, &s);
  expect("t5 decoder workspace query", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_OK);
  size_t filled = bytes, unfilled = 0;
  s.encoder_states = NULL;
  expect("t5 decoder workspace, caches filled", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &unfilled),
         BT_CUDA_OK);
  check("filling the cross caches (Hkv > 1) needs the products' scratch", filled > unfilled);
  seq2seq_bart(&m, &s);
  expect("bart decoder workspace query", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_OK);
  m.embedding_norm_before_positions = 1;
  expect("embedding norm before positions", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_OK);

  seq2seq_t5(&m, &s); m.parallel = 1;
  expect("cross-attention with parallel layers", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); decoder_layers[1].cross_k_weight = NULL;
  expect("cross layer without cross_k_weight", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the cross layer is named", "layers[1]: cross_attention needs");
  seq2seq_t5(&m, &s); decoder_layers[0].cross_norm_eps = NAN;
  expect("NaN cross_norm_eps", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); s = valid_step(); decoder_layers[0].cross_q_weight = w;
  expect("cross weights without cross_attention", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); s = valid_step(); s.source_len = 3; s.cross_key_cache = w + 256;
  expect("source side without cross_attention", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); s.cross_value_cache = NULL;
  expect("cross-attention without a cross cache", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); s.cross_value_cache = s.cross_key_cache;
  expect("one buffer for both cross caches", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); s.source_len = 0; s.source_mask_host = NULL;
  expect("cross-attention over no source row", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); s.source_len = -1; s.source_mask_host = NULL;
  expect("negative source_len", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); s.source_len = (int64_t)1 << 40; s.source_mask_host = NULL;
  expect("source_len past the kernels' limits", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_UNSUPPORTED);
  seq2seq_t5(&m, &s); s.source_mask_host = no_source2;
  expect("a sequence without a real source token", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the source row is named", "source_mask row 1 has no real source token");
  seq2seq_t5(&m, &s); m.position_bias_rows = 4;
  expect("a position past the position bias", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the biased position is named", "position 4 of sequence 0 is past position_bias's 4 distances");
  seq2seq_t5(&m, &s); m.position_bias_rows = 0;
  expect("position bias without rows", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_t5(&m, &s); m.position_bias = NULL;
  expect("position_bias_rows without a bias", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_bart(&m, &s); m.embedding_norm_eps = -1.f;
  expect("negative embedding_norm_eps", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_bart(&m, &s); m.has_embedding_norm = 0; m.embedding_norm_before_positions = 1;
  m.embedding_norm_gamma = m.embedding_norm_beta = NULL;
  expect("embedding_norm_before_positions without the norm",
         bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_INVALID_ARGUMENT);
  seq2seq_bart(&m, &s); m.has_embedding_norm = 0;
  expect("embedding norm weights without has_embedding_norm",
         bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_INVALID_ARGUMENT);

  /* A prompt (tiled attention): T5's bias goes through a per-step table in the workspace. */
  seq2seq_t5(&m, &s);
  s.new_len = 20; s.capacity = 24; s.input_ids_host = prompt_ids;
  s.past_lengths_host = prompt_past; s.new_lengths_host = prompt_fresh;
  m.position_bias_rows = 24;
  size_t biased = 0, plain = 0;
  expect("t5 prompt workspace query", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &biased), BT_CUDA_OK);
  m.position_bias = NULL; m.position_bias_rows = 0;
  expect("prompt workspace without the bias", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &plain),
         BT_CUDA_OK);
  check("the prompt's position bias table is in the workspace", biased >= plain + 2 * 4 * (24 + 20) * sizeof(float));
  seq2seq_t5(&m, &s);
  expect("t5 decoder workspace query", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_OK);
  expect("t5 decoder with a small workspace", bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, bytes - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);
}

/* Valid encoder-decoder steps without a device: each reaches the device check. */
static void seq2seq_without_device(void) {
  size_t bytes = 0;
  bt_cuda_decoder m;
  bt_cuda_decoder_step s;
  seq2seq_t5(&m, &s);
  bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes);
  expect("t5 step without a device", bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, bytes, NULL),
         BT_CUDA_NO_DEVICE);
  seq2seq_bart(&m, &s);
  bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes);
  expect("bart step without a device", bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, bytes, NULL),
         BT_CUDA_NO_DEVICE);
  seq2seq_t5(&m, &s);
  s.new_len = 20; s.capacity = 24; s.input_ids_host = prompt_ids;
  s.past_lengths_host = prompt_past; s.new_lengths_host = prompt_fresh;
  m.position_bias_rows = 24;
  bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes);
  expect("t5 prompt without a device", bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, bytes, NULL),
         BT_CUDA_NO_DEVICE);
  seq2seq_t5(&m, &s);
  s.past_lengths_host = no_new; s.new_lengths_host = no_new;
  bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes);
  expect("cross caches filled without new tokens, without a device",
         bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, bytes, NULL), BT_CUDA_NO_DEVICE);
}

static void decoder_checks(void) {
  size_t bytes = 0;
  bt_cuda_rms_norm_args r = valid_rms();
  expect("null rms norm", bt_cuda_rms_norm(NULL, NULL, NULL), BT_CUDA_INVALID_ARGUMENT);
  r.eps = -1.f;
  expect("negative rms eps", bt_cuda_rms_norm(NULL, &r, NULL), BT_CUDA_INVALID_ARGUMENT);
  r = valid_rms(); r.y = NULL;
  expect("rms norm without y", bt_cuda_rms_norm(NULL, &r, NULL), BT_CUDA_INVALID_ARGUMENT);
  r = valid_rms(); r.width = -2;
  expect("negative width", bt_cuda_rms_norm(NULL, &r, NULL), BT_CUDA_INVALID_ARGUMENT);

  bt_cuda_rotary_args t = valid_rotary();
  t.rotary_dim = 3;
  expect("odd rotary_dim", bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes), BT_CUDA_INVALID_ARGUMENT);
  t = valid_rotary(); t.rotary_dim = 10;
  expect("rotary_dim above head_dim", bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes), BT_CUDA_INVALID_ARGUMENT);
  t = valid_rotary(); t.table_rows = 5;
  expect("a position past the tables", bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the position is named", "positions[5] = 5");
  t = valid_rotary(); t.positions_host = NULL;
  expect("rotary without positions", bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes), BT_CUDA_INVALID_ARGUMENT);
  t = valid_rotary();
  expect("rotary workspace query", bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes), BT_CUDA_OK);
  check("rotary workspace holds the positions", bytes == round256(6 * sizeof(int)));
  expect("rotary with a small workspace", bt_cuda_rotary_embedding(NULL, &t, w, bytes - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);

  bt_cuda_kv_cache k = valid_kv();
  expect("null kv cache", bt_cuda_attention_with_kv_cache_workspace_bytes(NULL, &bytes), BT_CUDA_INVALID_ARGUMENT);
  k.kv_heads = 3;
  expect("kv cache H not a multiple of Hkv", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv(); k.head_dim = 160;
  expect("kv cache depth above 128", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes), BT_CUDA_UNSUPPORTED);
  k = valid_kv(); k.capacity = 4;
  expect("past + new past the capacity", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the sequence is named", "past_lengths[0] + new_lengths[0] = 5 exceeds the cache capacity C = 4");
  k = valid_kv(); k.new_len = 1;
  expect("new length above N", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the new length is named", "new_lengths[0] = 2 is outside [0, N = 1]");
  k = valid_kv(); k.past_lengths_host = NULL;
  expect("kv cache without lengths", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv(); k.value_cache = k.key_cache;
  expect("one buffer for both caches", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv(); k.scale = NAN;
  expect("NaN scale", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes), BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv(); k.precision = 5;
  expect("kv cache bad precision", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv(); k.out = NULL;
  expect("kv cache without out", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes), BT_CUDA_INVALID_ARGUMENT);
  k = valid_kv();
  expect("kv cache workspace query", bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes), BT_CUDA_OK);
  check("kv cache workspace holds the length tables and the split partials", bytes >= round256(6 * sizeof(int)));
  expect("kv cache with a small workspace", bt_cuda_attention_with_kv_cache(NULL, &k, w, bytes - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);

  bt_cuda_decoder m = valid_decoder();
  bt_cuda_decoder_step s = valid_step();
  expect("decoder workspace query", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes), BT_CUDA_OK);
  check("decoder workspace is positive", bytes > 0);
  expect("null decoder", bt_cuda_transformer_decoder_stack_workspace_bytes(NULL, &s, &bytes), BT_CUDA_INVALID_ARGUMENT);
  m.num_kv_heads = 3;
  expect("decoder H not a multiple of Hkv", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.activation = 4;
  expect("decoder bad activation", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.norm_kind = 2;
  expect("decoder bad norm kind", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.rotary_dim = 6;
  expect("decoder rotary_dim above head_dim", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.rotary_dim = 4;
  expect("decoder rotary without tables", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.head_dim = 256; m.num_heads = 1; m.num_kv_heads = 1;
  expect("decoder head_dim above 128", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_UNSUPPORTED);
  m = valid_decoder(); decoder_layers[1].up_weight = NULL;
  expect("decoder layer without a weight", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the decoder layer is named", "layers[1]: ");
  m = valid_decoder(); decoder_layers[0].q_weight = w;
  expect("decoder layer with both QKV forms", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.gated_mlp = 1;
  expect("gated decoder without gate weights", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  m = valid_decoder(); m.vocab_size = 7;
  expect("a token id past the vocabulary", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the token is named", "input_ids[0, 1] = 7 is outside the vocabulary [0, 7)");
  m = valid_decoder(); m.position_rows = 4;
  expect("a position past the learned positions", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  expect_message("the position is named", "position 4 of sequence 0 is past the 4 learned positions");
  m = valid_decoder(); s.capacity = 4;
  expect("decoder capacity overflow", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_step(); s.value_cache = s.key_cache;
  expect("decoder with one buffer for both caches", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_step(); s.logits_rows = 2;
  expect("decoder bad logits_rows", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_step(); s.input_ids_host = NULL;
  expect("decoder without ids", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_step(); s.logits = NULL;
  expect("decoder without logits", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &bytes),
         BT_CUDA_INVALID_ARGUMENT);
  s = valid_step();
  size_t last = 0, all = 0;
  expect("decoder workspace, last rows", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &last), BT_CUDA_OK);
  s.logits_rows = BT_CUDA_LOGITS_ALL;
  expect("decoder workspace, all rows", bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &s, &all), BT_CUDA_OK);
  check("ragged 'all' logits need scatter scratch", all > last);
  s = valid_step();
  expect("decoder with a small workspace", bt_cuda_transformer_decoder_stack(NULL, &m, &s, w, last - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  seq2seq_checks();
}

int main(void) {
  size_t sa = 0, sg = 0, se = 0, ss = 0;
  bt_cuda_struct_sizes(&sa, &sg, &se, &ss);
  check("abi version", bt_cuda_abi_version() == BT_CUDA_ABI_VERSION && BT_CUDA_ABI_VERSION == 4);
  check("struct sizes match", sa == sizeof(bt_cuda_attention) && sg == sizeof(bt_cuda_attention_grad) &&
                                  se == sizeof(bt_cuda_encoder) && ss == sizeof(bt_cuda_encoder_stack));
  size_t dr = 0, dt = 0, dk = 0, dl = 0, dm = 0, ds = 0;
  bt_cuda_decoder_struct_sizes(&dr, &dt, &dk, &dl, &dm, &ds);
  check("decoding struct sizes match", dr == sizeof(bt_cuda_rms_norm_args) && dt == sizeof(bt_cuda_rotary_args) &&
                                           dk == sizeof(bt_cuda_kv_cache) && dl == sizeof(bt_cuda_decoder_layer) &&
                                           dm == sizeof(bt_cuda_decoder) && ds == sizeof(bt_cuda_decoder_step));
  attention_checks();
  size_t padded = 0;
  encoder_checks(&padded);
  stack_checks();
  decoder_checks();

  /* Device-dependent paths. */
  bt_cuda_context* ctx = NULL;
  const int created = bt_cuda_context_create(0, &ctx);
  bt_cuda_attention a = valid_attention();
  bt_cuda_encoder e = valid_encoder();
  e.key_valid_host = valid;
  bt_cuda_encoder layers[2] = {stack_layer(16), stack_layer(40)};
  bt_cuda_encoder_stack s = valid_stack(layers, 2);
  s.key_valid_host = valid;
  size_t stack_bytes = 0;
  bt_cuda_transformer_encoder_stack_workspace_bytes(&s, &stack_bytes);
  /* An empty problem's additive-mask gradient reaches no element: 0 elements are enough. */
  bt_cuda_attention empty = valid_attention();
  empty.q_seq = 0; empty.mask_kind = BT_CUDA_MASK_ADDITIVE; empty.mask = host_q;
  empty.mask_strides[2] = 5; empty.mask_strides[3] = 1;
  bt_cuda_attention_grad g;
  memset(&g, 0, sizeof g);
  g.dk = host_k; g.dv = host_v; g.dmask = host_q; g.dmask_elements = 0;
  if (created == BT_CUDA_NO_DEVICE) {
    expect("context without a device", created, BT_CUDA_NO_DEVICE);
    check("context pointer stays null", ctx == NULL);
    expect("forward without a device", bt_cuda_scaled_dot_product_attention(NULL, &a, NULL, 0, NULL), BT_CUDA_NO_DEVICE);
    bt_cuda_attention medium = a;
    medium.precision = BT_CUDA_PRECISION_MEDIUM;
    expect("medium forward without a device", bt_cuda_scaled_dot_product_attention(NULL, &medium, w, 4096, NULL),
           BT_CUDA_NO_DEVICE);
    expect("empty gradient with a 0-element dmask, without a device",
           bt_cuda_scaled_dot_product_attention_grad(NULL, &empty, &g, NULL, 0, NULL), BT_CUDA_NO_DEVICE);
    expect("upload without a device", bt_cuda_upload(NULL, host_q, host_k, 4), BT_CUDA_INVALID_ARGUMENT);
    expect("encoder without a device", bt_cuda_transformer_encoder_layer(NULL, &e, w, padded, NULL),
           BT_CUDA_NO_DEVICE);
    expect("stack without a device", bt_cuda_transformer_encoder_stack(NULL, &s, w, stack_bytes, NULL),
           BT_CUDA_NO_DEVICE);
    expect("wait without a context", bt_cuda_wait_device(NULL), BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_rms_norm_args r = valid_rms();
    expect("rms norm without a device", bt_cuda_rms_norm(NULL, &r, NULL), BT_CUDA_NO_DEVICE);
    bt_cuda_rotary_args t = valid_rotary();
    size_t bytes = 0;
    bt_cuda_rotary_embedding_workspace_bytes(&t, &bytes);
    expect("rotary without a device", bt_cuda_rotary_embedding(NULL, &t, w, bytes, NULL), BT_CUDA_NO_DEVICE);
    bt_cuda_kv_cache k = valid_kv();
    bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes);
    lengths2[0] = lengths2[1] = -1;
    expect("kv cache without a device", bt_cuda_attention_with_kv_cache(NULL, &k, w, bytes, NULL), BT_CUDA_NO_DEVICE);
    check("no lengths written without a device", lengths2[0] == -1 && lengths2[1] == -1);
    bt_cuda_decoder m = valid_decoder();
    bt_cuda_decoder_step st = valid_step();
    bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &st, &bytes);
    expect("decoder without a device", bt_cuda_transformer_decoder_stack(NULL, &m, &st, w, bytes, NULL),
           BT_CUDA_NO_DEVICE);
    seq2seq_without_device();
    printf("no CUDA device here: checked the no-device paths\n");
  } else {
    expect("context on device 0", created, BT_CUDA_OK);
    expect("forward with host pointers", bt_cuda_scaled_dot_product_attention(ctx, &a, NULL, 0, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    expect("encoder with host pointers", bt_cuda_transformer_encoder_layer(ctx, &e, w, padded, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    expect("stack with host pointers", bt_cuda_transformer_encoder_stack(ctx, &s, w, stack_bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_kv_cache k = valid_kv();
    size_t bytes = 0;
    bt_cuda_attention_with_kv_cache_workspace_bytes(&k, &bytes);
    expect("kv cache with host pointers", bt_cuda_attention_with_kv_cache(ctx, &k, w, bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_decoder m = valid_decoder();
    bt_cuda_decoder_step st = valid_step();
    bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &st, &bytes);
    expect("decoder with host pointers", bt_cuda_transformer_decoder_stack(ctx, &m, &st, w, bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    seq2seq_t5(&m, &st);
    bt_cuda_transformer_decoder_stack_workspace_bytes(&m, &st, &bytes);
    expect("t5 step with host pointers", bt_cuda_transformer_decoder_stack(ctx, &m, &st, w, bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_context* missing = NULL;
    expect("context of a missing device", bt_cuda_context_create(4096, &missing), BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_context_destroy(ctx);
    printf("a CUDA device is present: checked that host pointers are refused\n");
  }
  if (failures) printf("abi_validation_test: %d FAILED\n", failures);
  else printf("abi_validation_test: all passed\n");
  return failures ? 1 : 0;
}
