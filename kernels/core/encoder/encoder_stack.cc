// The encoder stack with padding removal:
//   1. gather the real tokens of every sequence into a packed [N, E] buffer,
//   2. run every layer on the packed rows (GEMMs, LayerNorms and activations
//      never see a padded token; attention runs per sequence on its own length),
//   3. scatter the result back to [B, S, E] with zero rows at padded positions.
#include "encoder_stack.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>
#include <utility>
#include <vector>

#include "../../shared/problem_checks.h"
#include "../packed_weight.h"
#include "../thread_pool.h"
#include "workspace.h"

namespace btk {
namespace {

bool is_shape(const btk_packed_weight* w, int64_t rows, int64_t cols, const KernelTable& kernels) {
  return packed_weight_matches(w, kernels) && w->weight.rows == rows && w->weight.cols == cols;
}

// Shapes and packing of one layer's weights; the FFN width comes from w_ffn1.
bool layer_is_valid(const btk_encoder_layer_params& layer, int64_t embed_dim, const KernelTable& kernels) {
  if (!bt_checks::HeadCountError(embed_dim, layer.num_heads, "num_heads").empty()) return false;
  const int64_t e = embed_dim;
  if (layer.w_qkv) {
    if (!is_shape(layer.w_qkv, e, 3 * e, kernels)) return false;
  } else if (!is_shape(layer.w_q, e, e, kernels) || !is_shape(layer.w_k, e, e, kernels) ||
             !is_shape(layer.w_v, e, e, kernels)) {
    return false;
  }
  if (!is_shape(layer.w_o, e, e, kernels) || !layer.w_ffn1 || !is_shape(layer.w_ffn1, e, layer.w_ffn1->weight.cols, kernels))
    return false;
  if (!is_shape(layer.w_ffn2, layer.w_ffn1->weight.cols, e, kernels)) return false;
  if (layer.gated_mlp ? !is_shape(layer.w_gate, e, layer.w_ffn1->weight.cols, kernels) : (layer.w_gate || layer.b_gate))
    return false;
  if (layer.norm_kind == BTK_NORM_RMS) {
    if (layer.ln1_beta || layer.ln2_beta) return false;  // RMSNorm has no beta: one given is a caller's mistake
  } else if (layer.norm_kind != BTK_NORM_LAYER) {
    return false;
  }
  switch (layer.activation) {
    case BTK_ACTIVATION_NONE: case BTK_ACTIVATION_RELU: case BTK_ACTIVATION_GELU_ERF: case BTK_ACTIVATION_GELU_TANH:
    case BTK_ACTIVATION_SILU:  // Marian (opus-mt) encoders use swish
      return true;
  }
  return false;
}

GemmEpilogue epilogue(const float* bias, btk_activation activation = BTK_ACTIVATION_NONE,
                      const float* residual = nullptr, int64_t residual_ld = 0) {
  return GemmEpilogue{bias, activation, residual, residual_ld};
}

struct PackedTokens {
  int64_t count = 0;
  std::vector<int64_t> lengths, first_row;  // per sequence, in packed rows
  // Each packed row's position in its sequence before packing, for the attention bias; empty when
  // every sequence's real tokens come first (packed row i is position i).
  std::vector<int64_t> positions;
};

// The attention bias as every layer reads it (null data: none).
struct ScoreBias {
  const float* data;
  int64_t batch_stride, len;
};

// norm1 or norm2 of a layer, of its norm kind (RMSNorm: no beta, checked in layer_is_valid).
void norm(const KernelTable& k, const btk_encoder_layer_params& layer, int64_t n, int64_t e, const float* x,
          const float* gamma, const float* beta, float eps, float* y) {
  if (layer.norm_kind == BTK_NORM_RMS) k.rms_norm(n, e, x, e, gamma, eps, y, e);
  else k.layer_norm(n, e, x, e, gamma, beta, eps, y, e);
}

// ffn = act(x . w_gate + b_gate) * (x . w_ffn1 + b_ffn1): both products in one parallel region
// (they read the same rows), then the product of the two in place, split over the threads.
bool gated_mlp_hidden(const KernelTable& k, const btk_encoder_layer_params& layer, int64_t n, int64_t e,
                      const float* x, float* ffn, float* gate) {
  const int64_t f = layer.w_ffn1->weight.cols;
  const GemmEpilogue gate_epilogue = epilogue(layer.b_gate, layer.activation), up_epilogue = epilogue(layer.b_ffn1);
  const PackedWeight* weights[2] = {&layer.w_gate->weight, &layer.w_ffn1->weight};
  float* outputs[2] = {gate, ffn};
  const GemmEpilogue* epilogues[2] = {&gate_epilogue, &up_epilogue};
  if (!k.gemm_group(n, x, e, 2, weights, outputs, f, epilogues)) return false;
  auto multiply = [ffn, gate, f](int64_t begin, int64_t end) {
    for (int64_t i = begin * f; i < end * f; ++i) ffn[i] *= gate[i];
  };
  parallel_for_each(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(f, 1)), multiply);
  return true;
}

// The whole layer on packed rows: x [N, E] in, result in `out` [N, E]. `gate` is scratch for a gated MLP.
bool run_layer(const KernelTable& k, const btk_encoder_layer_params& layer, const PackedTokens& tokens,
               const ScoreBias& bias, int64_t e, const float* x, float* out, float* normed, float* qkv, float* context,
               float* hidden, float* ffn, float* gate, const int64_t* qkv_offsets, const int64_t* context_offsets) {
  const int64_t n = tokens.count, heads = layer.num_heads, head_dim = e / heads;
  const int64_t ffn_dim = layer.w_ffn1->weight.cols;
  const bool pre_norm = layer.norm_first != 0;

  const float* attention_input = x;
  if (pre_norm) {
    norm(k, layer, n, e, x, layer.ln1_gamma, layer.ln1_beta, layer.ln1_eps, normed);
    attention_input = normed;
  }
  bool ok = true;
  if (layer.w_qkv) {
    ok &= k.gemm(n, attention_input, e, layer.w_qkv->weight, qkv, 3 * e, epilogue(layer.b_qkv));
  } else {
    // Separate Q, K and V weights: one parallel region for the three products
    // (three regions of a third of the work each leave threads idle at small N).
    const GemmEpilogue q_epilogue = epilogue(layer.b_q), k_epilogue = epilogue(layer.b_k), v_epilogue = epilogue(layer.b_v);
    const PackedWeight* weights[3] = {&layer.w_q->weight, &layer.w_k->weight, &layer.w_v->weight};
    float* outputs[3] = {qkv, qkv + e, qkv + 2 * e};
    const GemmEpilogue* epilogues[3] = {&q_epilogue, &k_epilogue, &v_epilogue};
    ok &= k.gemm_group(n, attention_input, e, 3, weights, outputs, 3 * e, epilogues);
  }

  AttentionProblem problem{};
  problem.batch = static_cast<int64_t>(tokens.lengths.size());
  problem.heads = problem.kv_heads = heads;
  problem.head_dim = problem.value_dim = head_dim;
  problem.q_lens = problem.kv_lens = tokens.lengths.data();
  const float scale = layer.attention_scale;
  problem.scale = !std::isnan(scale) ? scale : 1.0f / std::sqrt(static_cast<float>(head_dim));
  problem.causal = layer.causal != 0;
  problem.mask_kind = BTK_MASK_NONE;
  if (bias.data) {
    problem.score_bias = bias.data;
    problem.score_bias_batch_stride = bias.batch_stride;
    problem.score_bias_len = bias.len;
    if (!tokens.positions.empty()) {
      problem.score_bias_positions = tokens.positions.data();
      problem.score_bias_first_row = tokens.first_row.data();
    }
  }
  // Q, K and V are column slices of the [N, 3E] projection; head h owns columns h*Dh.
  const AttentionOperand q{qkv, qkv_offsets, 0, head_dim, 3 * e};
  const AttentionOperand key{qkv + e, qkv_offsets, 0, head_dim, 3 * e};
  const AttentionOperand value{qkv + 2 * e, qkv_offsets, 0, head_dim, 3 * e};
  const AttentionOperand attended{context, context_offsets, 0, head_dim, e};
  ok &= k.attention_forward(problem, q, key, value, attended, nullptr);

  // Attention output projection with the residual fused into the epilogue.
  ok &= k.gemm(n, context, e, layer.w_o->weight, hidden, e, epilogue(layer.b_o, BTK_ACTIVATION_NONE, x, e));
  // The MLP's input: norm2(h) before it (pre-norm), or h = norm1(x + attention) itself (post-norm).
  const float* mlp_input = hidden;
  if (pre_norm) {
    norm(k, layer, n, e, hidden, layer.ln2_gamma, layer.ln2_beta, layer.ln2_eps, normed);
    mlp_input = normed;
  } else {
    norm(k, layer, n, e, hidden, layer.ln1_gamma, layer.ln1_beta, layer.ln1_eps, hidden);
  }
  if (layer.gated_mlp) ok &= gated_mlp_hidden(k, layer, n, e, mlp_input, ffn, gate);
  else ok &= k.gemm(n, mlp_input, e, layer.w_ffn1->weight, ffn, ffn_dim, epilogue(layer.b_ffn1, layer.activation));
  ok &= k.gemm(n, ffn, ffn_dim, layer.w_ffn2->weight, out, e, epilogue(layer.b_ffn2, BTK_ACTIVATION_NONE, hidden, e));
  if (!pre_norm) norm(k, layer, n, e, out, layer.ln2_gamma, layer.ln2_beta, layer.ln2_eps, out);
  return ok;
}

}  // namespace

btk_status run_encoder_stack(const KernelTable& kernels, const btk_encoder_layer_params* layers, int64_t num_layers,
                             const float* x, int64_t batch, int64_t seq_len, int64_t embed_dim,
                             const uint8_t* key_padding, const float* attention_bias, int64_t bias_batch, float* y) {
  if (num_layers < 0 || batch < 0 || seq_len < 0 || embed_dim < 0 || (num_layers > 0 && !layers)) return BTK_INVALID_ARGUMENT;
  const int64_t elements = batch * seq_len * embed_dim;
  if (elements > 0 && (!x || !y)) return BTK_INVALID_ARGUMENT;
  for (int64_t l = 0; l < num_layers; ++l)
    if (!layer_is_valid(layers[l], embed_dim, kernels)) return BTK_INVALID_ARGUMENT;
  // The bias: [1 or B, H, S, S] with one H for every layer; a count without data (or data without
  // a count) is a caller's mistake, not "no bias".
  if (bias_batch != 0 && bias_batch != 1 && bias_batch != batch) return BTK_INVALID_ARGUMENT;
  if ((bias_batch != 0) != (attention_bias != nullptr) && !(bias_batch != 0 && elements == 0))
    return BTK_INVALID_ARGUMENT;
  if (bias_batch != 0)
    for (int64_t l = 1; l < num_layers; ++l)
      if (layers[l].num_heads != layers[0].num_heads) return BTK_INVALID_ARGUMENT;
  if (elements == 0) return BTK_OK;

  try {
    PackedTokens tokens;
    tokens.lengths.resize(batch);
    tokens.first_row.resize(batch);
    std::vector<int64_t> source_row;  // packed row -> row of x
    source_row.reserve(batch * seq_len);
    for (int64_t b = 0; b < batch; ++b) {
      tokens.first_row[b] = static_cast<int64_t>(source_row.size());
      for (int64_t s = 0; s < seq_len; ++s)
        if (!key_padding || key_padding[b * seq_len + s]) source_row.push_back(b * seq_len + s);
      tokens.lengths[b] = static_cast<int64_t>(source_row.size()) - tokens.first_row[b];
    }
    tokens.count = static_cast<int64_t>(source_row.size());
    const int64_t n = tokens.count, e = embed_dim;
    ScoreBias bias{nullptr, 0, 0};
    if (attention_bias && num_layers > 0) {
      bias = ScoreBias{attention_bias, bias_batch == 1 ? 0 : layers[0].num_heads * seq_len * seq_len, seq_len};
      // Original positions are needed only when some sequence has padding before a real token.
      bool prefix_only = true;
      for (int64_t r = 0; r < n && prefix_only; ++r) {
        const int64_t b = source_row[r] / seq_len;
        prefix_only = source_row[r] % seq_len == r - tokens.first_row[b];
      }
      if (!prefix_only) {
        tokens.positions.resize(n);
        for (int64_t r = 0; r < n; ++r) tokens.positions[r] = source_row[r] % seq_len;
      }
    }
    if (num_layers == 0 || n == 0) {
      // Identity stack (or no real token): copy real rows, zero the rest.
      std::memset(y, 0, sizeof(float) * elements);
      for (int64_t r = 0; r < n; ++r) std::memcpy(y + source_row[r] * e, x + source_row[r] * e, sizeof(float) * e);
      return BTK_OK;
    }
    int64_t widest_ffn = 0, widest_gate = 0;
    for (int64_t l = 0; l < num_layers; ++l) {
      widest_ffn = std::max(widest_ffn, layers[l].w_ffn1->weight.cols);
      if (layers[l].gated_mlp) widest_gate = std::max(widest_gate, layers[l].w_ffn1->weight.cols);
    }

    // One workspace for all activations:
    // [current | next | normed | qkv (3E) | context | hidden | ffn (F) | gate (F, gated MLPs only)].
    const int64_t row_floats = 9 * e + widest_ffn + widest_gate;
    Workspace workspace(static_cast<size_t>(n * row_floats));
    if (!workspace.data()) return BTK_OUT_OF_MEMORY;
    float* current = workspace.data();
    float* next = current + n * e;
    float* normed = next + n * e;
    float* qkv = normed + n * e;
    float* context = qkv + n * 3 * e;
    float* hidden = context + n * e;
    float* ffn = hidden + n * e;
    float* gate = ffn + n * widest_ffn;
    std::vector<int64_t> qkv_offsets(batch), context_offsets(batch);
    for (int64_t b = 0; b < batch; ++b) {
      qkv_offsets[b] = tokens.first_row[b] * 3 * e;
      context_offsets[b] = tokens.first_row[b] * e;
    }
    for (int64_t r = 0; r < n; ++r) std::memcpy(current + r * e, x + source_row[r] * e, sizeof(float) * e);

    for (int64_t l = 0; l < num_layers; ++l) {
      if (!run_layer(kernels, layers[l], tokens, bias, e, current, next, normed, qkv, context, hidden, ffn, gate,
                     qkv_offsets.data(), context_offsets.data()))
        return BTK_OUT_OF_MEMORY;
      std::swap(current, next);
    }
    std::memset(y, 0, sizeof(float) * elements);
    for (int64_t r = 0; r < n; ++r) std::memcpy(y + source_row[r] * e, current + r * e, sizeof(float) * e);
    return BTK_OK;
  } catch (const std::bad_alloc&) {
    return BTK_OUT_OF_MEMORY;
  }
}

}  // namespace btk
