// One step of a decoder-only language model on the new tokens of a batch:
//   1. the new tokens of every sequence are packed into rows [T, E] (padding
//      never enters), embedded at their positions (past length + index),
//   2. each layer runs on the packed rows: norm, QKV projection, rotary, the
//      new keys/values appended in place to the layer's cache, attention of
//      each sequence's new rows over its cached rows, output projection and
//      the MLP with their residuals (pre-norm, post-norm or parallel),
//   3. the final norm and the LM head run on the rows whose logits are asked for
//      (one per sequence when generating).
// Encoder-decoder models add a cross-attention block to each layer, after the
// self-attention, over cross caches filled once from the encoder's states
// (cross_attention.h), and T5 a per-distance bias on the self-attention scores.
// Weights are read where the caller keeps them (float32 in place, or bfloat16
// copies); nothing here copies a weight.
#include "decoder_stack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <vector>

#include "../encoder/workspace.h"
#include "../packed_weight.h"
#include "cross_attention.h"
#include "kv_cache.h"
#include "rotary.h"

namespace btk {
namespace {

bool present(const btk_weight& w) { return w.data || w.packed; }

// The weight is [in, out] (and usable by these kernels when packed).
bool weight_is(const btk_weight& w, int64_t in, int64_t out, const KernelTable& kernels) {
  if (w.in_dim != in || w.out_dim != out) return false;
  if (w.packed) {
    if (!packed_weight_matches(w.packed, kernels)) return false;
    const PackedWeight& p = w.packed->weight;
    return p.rows == in && p.cols == out;
  }
  return w.data != nullptr || in * out == 0;
}

WeightView view_of(const btk_weight& w) {
  WeightView view{};
  view.k = w.in_dim;
  view.n = w.out_dim;
  if (w.packed) {
    view.kind = WeightView::prepacked;
    view.packed = &w.packed->weight;
  } else if (w.transposed) {
    view.kind = WeightView::f32_nk;
    view.data = w.data;
    view.ld = w.in_dim;
  } else {
    view.kind = WeightView::f32_kn;
    view.data = w.data;
    view.ld = w.out_dim;
  }
  return view;
}

bool activation_is_valid(btk_activation a) {
  return a == BTK_ACTIVATION_NONE || a == BTK_ACTIVATION_RELU || a == BTK_ACTIVATION_GELU_ERF ||
         a == BTK_ACTIVATION_GELU_TANH || a == BTK_ACTIVATION_SILU;
}

struct Dims {
  int64_t e, heads, kv_heads, d, q_width, kv_width, qkv_width, ffn;
};

bool layer_is_valid(const btk_decoder& m, const btk_decoder_layer& l, const Dims& dims, const KernelTable& k) {
  const int64_t e = dims.e;
  if (present(l.w_qkv)) {
    if (!weight_is(l.w_qkv, e, dims.qkv_width, k) || l.w_qkv.transposed) return false;
    if (present(l.w_q) || present(l.w_k) || present(l.w_v)) return false;
  } else if (!weight_is(l.w_q, e, dims.q_width, k) || !weight_is(l.w_k, e, dims.kv_width, k) ||
             !weight_is(l.w_v, e, dims.kv_width, k) || l.w_q.transposed || l.w_k.transposed || l.w_v.transposed) {
    return false;
  }
  if (!weight_is(l.w_o, dims.q_width, e, k) || l.w_o.transposed) return false;
  if (!weight_is(l.w_up, e, dims.ffn, k) || !weight_is(l.w_down, dims.ffn, e, k) || l.w_up.transposed ||
      l.w_down.transposed)
    return false;
  if (m.gated_mlp ? (!weight_is(l.w_gate, e, dims.ffn, k) || l.w_gate.transposed) : present(l.w_gate)) return false;
  if (!std::isfinite(l.norm1_eps) || !std::isfinite(l.norm2_eps)) return false;
  if (!m.cross_attention)
    return !present(l.w_cross_q) && !present(l.w_cross_k) && !present(l.w_cross_v) && !present(l.w_cross_o);
  // Cross-attention: q and the output projection on the decoder's rows, k and v on the encoder's (width E).
  if (!weight_is(l.w_cross_q, e, dims.q_width, k) || !weight_is(l.w_cross_k, e, dims.kv_width, k) ||
      !weight_is(l.w_cross_v, e, dims.kv_width, k) || !weight_is(l.w_cross_o, dims.q_width, e, k))
    return false;
  if (l.w_cross_q.transposed || l.w_cross_k.transposed || l.w_cross_v.transposed || l.w_cross_o.transposed) return false;
  return std::isfinite(l.cross_norm_eps);
}

bool model_is_valid(const btk_decoder& m, const KernelTable& k, Dims* dims) {
  if (m.num_layers < 0 || m.vocab_size <= 0 || m.embed_dim <= 0 || m.num_heads <= 0 || m.num_kv_heads <= 0 ||
      m.head_dim <= 0 || m.num_heads % m.num_kv_heads != 0)
    return false;
  if (m.norm_kind != BTK_NORM_LAYER && m.norm_kind != BTK_NORM_RMS) return false;
  if (!activation_is_valid(m.activation) || !std::isfinite(m.attention_scale) || !std::isfinite(m.embedding_scale))
    return false;
  if (!m.word_embeddings || (m.num_layers > 0 && !m.layers)) return false;
  if (m.position_embeddings && (m.position_rows <= 0 || m.position_offset < 0)) return false;
  if (!rotary_is_valid(m.rotary, m.head_dim)) return false;
  if (!std::isfinite(m.final_norm_eps)) return false;
  if (m.cross_attention && m.parallel) return false;
  if (m.position_bias && m.position_bias_rows <= 0) return false;
  if (m.has_embedding_norm && !std::isfinite(m.embedding_norm_eps)) return false;
  if (m.embedding_norm_before_positions && !m.has_embedding_norm) return false;
  const int64_t e = m.embed_dim;
  dims->e = e;
  dims->heads = m.num_heads;
  dims->kv_heads = m.num_kv_heads;
  dims->d = m.head_dim;
  dims->q_width = m.num_heads * m.head_dim;
  dims->kv_width = m.num_kv_heads * m.head_dim;
  dims->qkv_width = dims->q_width + 2 * dims->kv_width;
  dims->ffn = m.num_layers > 0 ? m.layers[0].w_up.out_dim : 0;
  for (int64_t l = 0; l < m.num_layers; ++l)
    if (!layer_is_valid(m, m.layers[l], *dims, k)) return false;
  if (!weight_is(m.lm_head, e, m.vocab_size, k)) return false;
  return true;
}

GemmEpilogue epilogue(const float* bias, btk_activation activation = BTK_ACTIVATION_NONE,
                      const float* residual = nullptr, int64_t residual_ld = 0) {
  return GemmEpilogue{bias, activation, residual, residual_ld};
}

void norm(const KernelTable& k, btk_norm_kind kind, int64_t rows, int64_t cols, const float* x, const float* gamma,
          const float* beta, float eps, float* y) {
  if (kind == BTK_NORM_RMS) k.rms_norm(rows, cols, x, cols, gamma, eps, y, cols);
  else k.layer_norm(rows, cols, x, cols, gamma, beta, eps, y, cols);
}

struct Rows {
  int64_t count = 0;
  std::vector<int64_t> first_row, q_lens, kv_lens;  // per sequence
  std::vector<int64_t> position, sequence;          // per packed row
};

struct Buffers {
  float *x, *h, *qkv, *ctx, *attn, *ffn1, *ffn2;
};

// The encoder side of a step: the source mask as key padding, the source length.
struct Source {
  int64_t length = 0;
  std::vector<uint8_t> key_padding;  // [batch, length]; empty: all real
};

// attn += CrossAttn(Nc(attn)) (pre-norm) or attn = Nc(attn + CrossAttn(attn)) (post-norm), on the packed rows.
bool run_cross_attention(const KernelTable& k, const btk_decoder& m, const btk_decoder_layer& l, const Dims& dims,
                         const btk_decoder_step& step, int64_t layer_index, const Rows& rows, const Source& source,
                         const Buffers& buf, const std::vector<int64_t>& q_offsets) {
  const int64_t n = rows.count, e = dims.e;
  bool ok = true;
  const float* input = buf.attn;
  if (m.norm_first) {
    norm(k, m.norm_kind, n, e, buf.attn, l.cross_norm_gamma, l.cross_norm_beta, l.cross_norm_eps, buf.h);
    input = buf.h;
  }
  // Queries [n, H D] in the qkv buffer, the context into ctx: both packed per sequence with stride H D.
  ok &= k.gemm_view(n, input, e, view_of(l.w_cross_q), buf.qkv, dims.q_width, epilogue(l.b_cross_q));
  const int64_t layer_stride = step.batch * dims.kv_heads * source.length * dims.d;
  CrossAttention problem{};
  problem.batch = step.batch;
  problem.heads = dims.heads;
  problem.kv_heads = dims.kv_heads;
  problem.head_dim = dims.d;
  problem.source_len = source.length;
  problem.q_lens = rows.q_lens.data();
  problem.scale = m.attention_scale;
  problem.key_padding = source.key_padding.empty() ? nullptr : source.key_padding.data();
  problem.key_cache = step.cross_key_cache + layer_index * layer_stride;
  problem.value_cache = step.cross_value_cache + layer_index * layer_stride;
  ok &= cross_attention(k, problem, buf.qkv, q_offsets.data(), buf.ctx, q_offsets.data(), dims.q_width);
  // x (free here: attn holds the running rows) = attn + ctx . Wco + bco, then back into attn.
  ok &= k.gemm_view(n, buf.ctx, dims.q_width, view_of(l.w_cross_o), buf.x, e,
                    epilogue(l.b_cross_o, BTK_ACTIVATION_NONE, buf.attn, e));
  if (!m.norm_first) norm(k, m.norm_kind, n, e, buf.x, l.cross_norm_gamma, l.cross_norm_beta, l.cross_norm_eps, buf.x);
  std::memcpy(buf.attn, buf.x, sizeof(float) * n * e);
  return ok;
}

bool run_layer(const KernelTable& k, const btk_decoder& m, const btk_decoder_layer& l, const Dims& dims,
               const btk_decoder_step& step, int64_t layer_index, const Rows& rows, const Source& source,
               const Buffers& buf, const std::vector<int64_t>& qkv_offsets, const std::vector<int64_t>& ctx_offsets) {
  const int64_t n = rows.count, e = dims.e, d = dims.d, cap = step.capacity;
  bool ok = true;

  // Attention input.
  const float* attention_input = buf.x;
  if (m.norm_first || m.parallel) {
    norm(k, m.norm_kind, n, e, buf.x, l.norm1_gamma, l.norm1_beta, l.norm1_eps, buf.h);
    attention_input = buf.h;
  }
  if (present(l.w_qkv)) {
    ok &= k.gemm_view(n, attention_input, e, view_of(l.w_qkv), buf.qkv, dims.qkv_width, epilogue(l.b_qkv));
  } else {
    ok &= k.gemm_view(n, attention_input, e, view_of(l.w_q), buf.qkv, dims.qkv_width, epilogue(l.b_q));
    ok &= k.gemm_view(n, attention_input, e, view_of(l.w_k), buf.qkv + dims.q_width, dims.qkv_width, epilogue(l.b_k));
    ok &= k.gemm_view(n, attention_input, e, view_of(l.w_v), buf.qkv + dims.q_width + dims.kv_width, dims.qkv_width,
                      epilogue(l.b_v));
  }

  // Rotary on q and k, then the new keys and values into this layer's cache.
  const int64_t layer_stride = step.batch * dims.kv_heads * cap * d;
  float* key_cache = step.key_cache + layer_index * layer_stride;
  float* value_cache = step.value_cache + layer_index * layer_stride;
  for (int64_t r = 0; r < n; ++r) {
    float* row = buf.qkv + r * dims.qkv_width;
    const int64_t position = rows.position[r], b = rows.sequence[r];
    if (m.rotary.rotary_dim > 0) {
      rotate_heads(m.rotary, row, dims.heads, d, d, position);
      rotate_heads(m.rotary, row + dims.q_width, dims.kv_heads, d, d, position);
    }
    for (int64_t g = 0; g < dims.kv_heads; ++g) {
      const int64_t slot = ((b * dims.kv_heads + g) * cap + position) * d;
      std::memcpy(key_cache + slot, row + dims.q_width + g * d, sizeof(float) * d);
      std::memcpy(value_cache + slot, row + dims.q_width + dims.kv_width + g * d, sizeof(float) * d);
    }
  }

  AttentionProblem problem{};
  problem.batch = step.batch;
  problem.heads = dims.heads;
  problem.kv_heads = dims.kv_heads;
  problem.q_len = step.new_len;
  problem.kv_len = cap;
  problem.head_dim = problem.value_dim = d;
  problem.q_lens = rows.q_lens.data();
  problem.kv_lens = rows.kv_lens.data();
  problem.scale = m.attention_scale;
  problem.causal = true;
  problem.mask_kind = BTK_MASK_NONE;
  problem.position_bias = m.position_bias;
  problem.position_bias_rows = m.position_bias ? m.position_bias_rows : 0;
  const AttentionOperand q{buf.qkv, qkv_offsets.data(), 0, d, dims.qkv_width};
  const AttentionOperand keys{key_cache, nullptr, dims.kv_heads * cap * d, cap * d, d};
  const AttentionOperand values{value_cache, nullptr, dims.kv_heads * cap * d, cap * d, d};
  const AttentionOperand context{buf.ctx, ctx_offsets.data(), 0, d, dims.q_width};
  ok &= cached_attention(k, problem, q, keys, values, context);

  // Output projection with the residual: attn = x + ctx . Wo + bo.
  ok &= k.gemm_view(n, buf.ctx, dims.q_width, view_of(l.w_o), buf.attn, e, epilogue(l.b_o, BTK_ACTIVATION_NONE, buf.x, e));
  const bool post_norm = !m.norm_first && !m.parallel;
  if (post_norm) norm(k, m.norm_kind, n, e, buf.attn, l.norm1_gamma, l.norm1_beta, l.norm1_eps, buf.attn);
  if (m.cross_attention) ok &= run_cross_attention(k, m, l, dims, step, layer_index, rows, source, buf, ctx_offsets);

  // MLP input and the residual its output is added to.
  const float* mlp_input;
  const float* residual;
  if (m.parallel) {
    if (!m.parallel_shared_norm) norm(k, m.norm_kind, n, e, buf.x, l.norm2_gamma, l.norm2_beta, l.norm2_eps, buf.h);
    mlp_input = buf.h;       // n1(x) (GPT-J) or n2(x) (GPT-NeoX)
    residual = buf.attn;     // x + attn: the layer output is x + attn + mlp
  } else if (m.norm_first) {
    norm(k, m.norm_kind, n, e, buf.attn, l.norm2_gamma, l.norm2_beta, l.norm2_eps, buf.h);
    mlp_input = buf.h;
    residual = buf.attn;
  } else {  // post-norm: attn is n1(x + attn) (and the cross block's output) already
    mlp_input = buf.attn;
    residual = buf.attn;
  }
  const int64_t f = dims.ffn;
  if (m.gated_mlp) {
    ok &= k.gemm_view(n, mlp_input, e, view_of(l.w_gate), buf.ffn1, f, epilogue(l.b_gate, m.activation));
    ok &= k.gemm_view(n, mlp_input, e, view_of(l.w_up), buf.ffn2, f, epilogue(l.b_up));
    for (int64_t i = 0; i < n * f; ++i) buf.ffn1[i] *= buf.ffn2[i];
  } else {
    ok &= k.gemm_view(n, mlp_input, e, view_of(l.w_up), buf.ffn1, f, epilogue(l.b_up, m.activation));
  }
  ok &= k.gemm_view(n, buf.ffn1, f, view_of(l.w_down), buf.x, e, epilogue(l.b_down, BTK_ACTIVATION_NONE, residual, e));
  if (post_norm) norm(k, m.norm_kind, n, e, buf.x, l.norm2_gamma, l.norm2_beta, l.norm2_eps, buf.x);
  return ok;
}

}  // namespace

btk_status run_decoder_stack(const KernelTable& kernels, const btk_decoder& m, const btk_decoder_step& step) {
  Dims dims{};
  if (!model_is_valid(m, kernels, &dims)) return BTK_INVALID_ARGUMENT;
  if (step.batch < 0 || step.new_len < 0 || step.capacity < 0) return BTK_INVALID_ARGUMENT;
  if (step.batch > 0 && (!step.past_lengths || !step.new_lengths || !step.lengths)) return BTK_INVALID_ARGUMENT;
  if (step.logits_rows != BTK_LOGITS_LAST && step.logits_rows != BTK_LOGITS_ALL) return BTK_INVALID_ARGUMENT;
  if (!m.cross_attention && (step.source_len != 0 || step.encoder_states || step.source_mask || step.cross_key_cache ||
                             step.cross_value_cache))
    return BTK_INVALID_ARGUMENT;
  if (step.source_len < 0 || (m.cross_attention && step.batch > 0 && step.source_len == 0)) return BTK_INVALID_ARGUMENT;
  const int64_t cross_floats = m.num_layers * step.batch * dims.kv_heads * step.source_len * dims.d;
  if (cross_floats > 0 && (!step.cross_key_cache || !step.cross_value_cache)) return BTK_INVALID_ARGUMENT;
  try {
    Source source;
    source.length = step.source_len;
    if (step.source_mask) {
      // Every sequence needs a real source token: a softmax over none has no value.
      source.key_padding.resize(static_cast<size_t>(step.batch * step.source_len));
      for (int64_t b = 0; b < step.batch; ++b) {
        bool any = false;
        for (int64_t s = 0; s < step.source_len; ++s) {
          const bool real = step.source_mask[b * step.source_len + s] != 0;
          source.key_padding[b * step.source_len + s] = real ? 1 : 0;
          any = any || real;
        }
        if (!any) return BTK_INVALID_ARGUMENT;
      }
    }
    Rows rows;
    rows.first_row.resize(step.batch);
    rows.q_lens.resize(step.batch);
    rows.kv_lens.resize(step.batch);
    for (int64_t b = 0; b < step.batch; ++b) {
      const int64_t past = step.past_lengths[b], fresh = step.new_lengths[b];
      if (past < 0 || fresh < 0 || fresh > step.new_len || past + fresh > step.capacity) return BTK_INVALID_ARGUMENT;
      rows.first_row[b] = rows.count;
      rows.q_lens[b] = fresh;
      rows.kv_lens[b] = past + fresh;
      for (int64_t i = 0; i < fresh; ++i) {
        const int64_t id = step.input_ids[b * step.new_len + i], position = past + i;
        if (id < 0 || id >= m.vocab_size) return BTK_INVALID_ARGUMENT;
        if (m.position_embeddings && position + m.position_offset >= m.position_rows) return BTK_INVALID_ARGUMENT;
        if (m.rotary.rotary_dim > 0 && position >= m.rotary.table_rows) return BTK_INVALID_ARGUMENT;
        if (m.position_bias && position >= m.position_bias_rows) return BTK_INVALID_ARGUMENT;
        rows.position.push_back(position);
        rows.sequence.push_back(b);
      }
      rows.count += fresh;
    }
    // Without layers the caches have no rows at all (and an empty array may have no address).
    if (rows.count > 0 && (!step.input_ids || (m.num_layers > 0 && (!step.key_cache || !step.value_cache))))
      return BTK_INVALID_ARGUMENT;
    const int64_t n = rows.count, e = dims.e, vocab = m.vocab_size;
    const bool all_rows = step.logits_rows == BTK_LOGITS_ALL;
    const int64_t logit_rows_out = all_rows ? step.batch * step.new_len : step.batch;
    if (logit_rows_out > 0 && !step.logits) return BTK_INVALID_ARGUMENT;
    // The cross caches first (a step may have no new token at all and still fill them).
    if (step.encoder_states && cross_floats > 0) {
      Workspace scratch(static_cast<size_t>(dims.kv_heads > 1 ? step.batch * step.source_len * dims.kv_width : 1));
      if (!scratch.data()) return BTK_OUT_OF_MEMORY;
      const int64_t layer_stride = step.batch * dims.kv_heads * step.source_len * dims.d;
      for (int64_t l = 0; l < m.num_layers; ++l) {
        const btk_decoder_layer& L = m.layers[l];
        if (!fill_cross_cache(kernels, step.batch, step.source_len, e, dims.kv_heads, dims.d, step.encoder_states,
                              view_of(L.w_cross_k), L.b_cross_k, view_of(L.w_cross_v), L.b_cross_v,
                              step.cross_key_cache + l * layer_stride, step.cross_value_cache + l * layer_stride,
                              scratch.data()))
          return BTK_OUT_OF_MEMORY;
      }
    }
    for (int64_t b = 0; b < step.batch; ++b) step.lengths[b] = static_cast<int32_t>(rows.kv_lens[b]);
    if (logit_rows_out > 0) std::memset(step.logits, 0, sizeof(float) * logit_rows_out * vocab);
    if (n == 0) return BTK_OK;

    const int64_t ffn = std::max<int64_t>(dims.ffn, 1);
    const int64_t row_floats = 3 * e + dims.qkv_width + dims.q_width + 2 * ffn;
    Workspace workspace(static_cast<size_t>(n * row_floats));
    if (!workspace.data()) return BTK_OUT_OF_MEMORY;
    Buffers buf;
    buf.x = workspace.data();
    buf.h = buf.x + n * e;
    buf.attn = buf.h + n * e;
    buf.qkv = buf.attn + n * e;
    buf.ctx = buf.qkv + n * dims.qkv_width;
    buf.ffn1 = buf.ctx + n * dims.q_width;
    buf.ffn2 = buf.ffn1 + n * ffn;

    // Embeddings: word (times embedding_scale) plus the learned position row, normed after the sum
    // (BART) or, with embedding_norm_before_positions, the word part alone (BlenderbotSmall).
    const bool norm_words_alone = m.has_embedding_norm && m.embedding_norm_before_positions;
    const auto position_row = [&](int64_t r) {
      return m.position_embeddings ? m.position_embeddings + (rows.position[r] + m.position_offset) * e : nullptr;
    };
    for (int64_t r = 0, b = 0; b < step.batch; ++b) {
      for (int64_t i = 0; i < rows.q_lens[b]; ++i, ++r) {
        const float* word = m.word_embeddings + static_cast<int64_t>(step.input_ids[b * step.new_len + i]) * e;
        const float* pos = norm_words_alone ? nullptr : position_row(r);
        float* x = buf.x + r * e;
        for (int64_t c = 0; c < e; ++c) x[c] = word[c] * m.embedding_scale + (pos ? pos[c] : 0.0f);
      }
    }
    if (m.has_embedding_norm)
      norm(kernels, m.norm_kind, n, e, buf.x, m.embedding_norm_gamma, m.embedding_norm_beta, m.embedding_norm_eps, buf.x);
    if (norm_words_alone) {
      for (int64_t r = 0; r < n; ++r) {
        const float* pos = position_row(r);
        if (!pos) break;
        float* x = buf.x + r * e;
        for (int64_t c = 0; c < e; ++c) x[c] += pos[c];
      }
    }

    std::vector<int64_t> qkv_offsets(step.batch), ctx_offsets(step.batch);
    for (int64_t b = 0; b < step.batch; ++b) {
      qkv_offsets[b] = rows.first_row[b] * dims.qkv_width;
      ctx_offsets[b] = rows.first_row[b] * dims.q_width;
    }
    for (int64_t l = 0; l < m.num_layers; ++l)
      if (!run_layer(kernels, m, m.layers[l], dims, step, l, rows, source, buf, qkv_offsets, ctx_offsets))
        return BTK_OUT_OF_MEMORY;

    // Rows whose logits are wanted, into h: every row, or each sequence's last new token.
    std::vector<int64_t> out_row;  // logits row of each selected packed row
    int64_t selected = 0;
    if (all_rows) {
      for (int64_t b = 0; b < step.batch; ++b)
        for (int64_t i = 0; i < rows.q_lens[b]; ++i) out_row.push_back(b * step.new_len + i);
      std::memcpy(buf.h, buf.x, sizeof(float) * n * e);
      selected = n;
    } else {
      for (int64_t b = 0; b < step.batch; ++b) {
        if (rows.q_lens[b] == 0) continue;
        std::memcpy(buf.h + selected * e, buf.x + (rows.first_row[b] + rows.q_lens[b] - 1) * e, sizeof(float) * e);
        out_row.push_back(b);
        ++selected;
      }
    }
    if (m.has_final_norm)
      norm(kernels, m.norm_kind, selected, e, buf.h, m.final_norm_gamma, m.final_norm_beta, m.final_norm_eps, buf.h);
    // Straight into the output when the selected rows are its rows in order; else through scratch.
    bool direct = true;
    for (int64_t i = 0; i < selected; ++i) direct = direct && out_row[i] == i;
    if (direct && selected == logit_rows_out) {
      if (!kernels.gemm_view(selected, buf.h, e, view_of(m.lm_head), step.logits, vocab, epilogue(m.lm_head_bias)))
        return BTK_OUT_OF_MEMORY;
      return BTK_OK;
    }
    std::vector<float> logits(static_cast<size_t>(selected * vocab));
    if (!kernels.gemm_view(selected, buf.h, e, view_of(m.lm_head), logits.data(), vocab, epilogue(m.lm_head_bias)))
      return BTK_OUT_OF_MEMORY;
    for (int64_t i = 0; i < selected; ++i)
      std::memcpy(step.logits + out_row[i] * vocab, logits.data() + i * vocab, sizeof(float) * vocab);
    return BTK_OK;
  } catch (const std::bad_alloc&) {
    return BTK_OUT_OF_MEMORY;
  }
}

}  // namespace btk
