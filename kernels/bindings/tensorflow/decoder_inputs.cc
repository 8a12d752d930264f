#include "decoder_inputs.h"

#include <cmath>

#include "../../shared/problem_checks.h"
#include "decoder_checks.h"

namespace bt_tf {

using namespace decoder_layer;  // NOLINT: the layer weight indices
namespace {

const char* const kGlobalNames[kDecoderGlobalInputs] = {
  "word_embeddings", "position_embeddings", "rotary_cos", "rotary_sin", "final_norm_gamma", "final_norm_beta",
  "lm_head", "lm_head_bias", "position_bias", "encoder_states", "embedding_norm_gamma", "embedding_norm_beta",
};

const char* const kLayerNames[kDecoderLayerInputs] = {
  "norm1_gamma", "norm1_beta", "norm2_gamma", "norm2_beta", "qkv_weight", "qkv_bias", "q_weight", "q_bias",
  "k_weight", "k_bias", "v_weight", "v_bias", "out_weight", "out_bias", "gate_weight", "gate_bias", "up_weight",
  "up_bias", "down_weight", "down_bias", "cross_norm_gamma", "cross_norm_beta", "cross_q_weight", "cross_q_bias",
  "cross_k_weight", "cross_k_bias", "cross_v_weight", "cross_v_bias", "cross_out_weight", "cross_out_bias",
};

void ThrowIf(const std::string& error) {
  if (!error.empty()) throw InvalidArgument{error};
}

// An int32 vector input [B] read on the host.
std::vector<int32_t> Lengths(TF_OpKernelContext* ctx, int i, const char* name, int64_t batch) {
  TensorPtr t = Input(ctx, i, name, TF_INT32);
  RequireShape(t.get(), {batch}, name);
  return Int32Values(t.get());
}

void RequireDistinctCaches(const TF_Tensor* keys, const TF_Tensor* values) {
  if (!IsPlaceholder(keys) && TF_TensorData(keys) == TF_TensorData(values)) {
    throw InvalidArgument{"key_cache and value_cache share one buffer: both are updated in place, pass two tensors"};
  }
}

}  // namespace

// ---- BtRmsNorm ----

void ReadRmsNormInputs(TF_OpKernelContext* ctx, RmsNormInputs* in) {
  in->x = Input(ctx, 0, "x", TF_FLOAT);
  in->gamma = Input(ctx, 1, "gamma", TF_FLOAT);
  const auto shape = ShapeOf(in->x.get());
  if (shape.empty()) throw InvalidArgument{"x must have at least one axis, got a scalar"};
  in->width = shape.back();
  RequireShape(in->gamma.get(), {in->width}, "gamma");
  in->rows = in->width > 0 ? NumElements(shape) / in->width : 0;
}

// ---- BtRotaryEmbedding ----

void ReadRotaryInputs(TF_OpKernelContext* ctx, int32_t rotary_dim, RotaryInputs* in) {
  in->x = Input(ctx, 0, "x", TF_FLOAT);
  in->positions = Input(ctx, 1, "positions", TF_INT32);
  in->cos = Input(ctx, 2, "cos", TF_FLOAT);
  in->sin = Input(ctx, 3, "sin", TF_FLOAT);
  const auto xs = ShapeOf(in->x.get());
  if (xs.size() != 4) throw InvalidArgument{"x must have rank 4 [B, H, S, D], got " + ShapeString(xs)};
  in->batch = xs[0];
  in->heads = xs[1];
  in->seq = xs[2];
  in->head_dim = xs[3];
  RequireShape(in->positions.get(), {in->batch, in->seq}, "positions");
  ThrowIf(bt_checks::RotaryDimError(rotary_dim, in->head_dim));
  if (rotary_dim == 0) return;  // no table is read
  const auto cs = ShapeOf(in->cos.get());
  if (cs.size() != 2 || cs[0] < 1 || cs[1] != rotary_dim / 2) {
    throw InvalidArgument{"cos must have shape [P, rotary_dim / 2 = " + std::to_string(rotary_dim / 2) +
                          "] with P >= 1, got " + ShapeString(cs)};
  }
  RequireShape(in->sin.get(), cs, "sin");
  in->table_rows = cs[0];
  in->position_values = Int32Values(in->positions.get());
  ThrowIf(bt_checks::RotaryPositionsError(static_cast<int64_t>(in->position_values.size()), in->position_values.data(),
                                          in->table_rows));
}

// ---- BtAttentionWithKVCache ----

void ReadKvCacheInputs(TF_OpKernelContext* ctx, KvCacheInputs* in) {
  in->q = Input(ctx, 0, "q", TF_FLOAT);
  in->k = Input(ctx, 1, "k", TF_FLOAT);
  in->v = Input(ctx, 2, "v", TF_FLOAT);
  in->key_cache = Input(ctx, 3, "key_cache", TF_FLOAT);
  in->value_cache = Input(ctx, 4, "value_cache", TF_FLOAT);
  const auto qs = ShapeOf(in->q.get()), ks = ShapeOf(in->k.get()), vs = ShapeOf(in->v.get());
  const auto kc = ShapeOf(in->key_cache.get()), vc = ShapeOf(in->value_cache.get());
  if (qs.size() != 4 || ks.size() != 4 || vs.size() != 4 || kc.size() != 4 || vc.size() != 4) {
    throw InvalidArgument{"q, k, v, key_cache and value_cache must have rank 4"};
  }
  in->batch = qs[0];
  in->heads = qs[1];
  in->new_len = qs[2];
  in->head_dim = qs[3];
  in->kv_heads = ks[1];
  in->value_dim = vs[3];
  in->capacity = kc[2];
  const bt_checks::AttentionDims dims{in->batch, in->heads, in->kv_heads, in->new_len, in->capacity, in->head_dim,
                                      in->value_dim};
  ThrowIf(bt_checks::AttentionDimsError(dims, /*require_heads_and_depth=*/true));
  RequireShape(in->k.get(), {in->batch, in->kv_heads, in->new_len, in->head_dim}, "k");
  RequireShape(in->v.get(), {in->batch, in->kv_heads, in->new_len, in->value_dim}, "v");
  RequireShape(in->key_cache.get(), {in->batch, in->kv_heads, in->capacity, in->head_dim}, "key_cache");
  RequireShape(in->value_cache.get(), {in->batch, in->kv_heads, in->capacity, in->value_dim}, "value_cache");
  RequireDistinctCaches(in->key_cache.get(), in->value_cache.get());
  in->past = Lengths(ctx, 5, "past_lengths", in->batch);
  in->fresh = Lengths(ctx, 6, "new_lengths", in->batch);
  ThrowIf(bt_checks::CacheLengthsError(in->batch, in->new_len, in->capacity, in->past.data(), in->fresh.data()));
}

// ---- BtTransformerDecoderStack ----

bool ParseDecoderActivation(const std::string& name, btk_activation* activation) {
  if (name == "gelu") *activation = BTK_ACTIVATION_GELU_ERF;
  else if (name == "gelu_tanh") *activation = BTK_ACTIVATION_GELU_TANH;
  else if (name == "relu") *activation = BTK_ACTIVATION_RELU;
  else if (name == "silu") *activation = BTK_ACTIVATION_SILU;
  else return false;
  return true;
}

bool ReadDecoderStackAttrs(TF_OpKernelConstruction* ctx, DecoderOpAttrs* a) {
  AttrReader r{ctx};
  a->num_layers = r.Int("num_layers");
  const int32_t n = r.Int("N");
  if (r.ok && (a->num_layers < 0 || n != kDecoderGlobalInputs + kDecoderLayerInputs * a->num_layers)) {
    FailConstruction(ctx, "weights must hold 12 global tensors and 30 per layer");
    return false;
  }
  a->num_heads = r.Int("num_heads");
  a->num_kv_heads = r.Int("num_kv_heads");
  a->head_dim = r.Int("head_dim");
  a->norm_first = r.Bool("norm_first");
  a->parallel = r.Bool("parallel");
  a->parallel_shared_norm = r.Bool("parallel_shared_norm");
  a->gated_mlp = r.Bool("gated_mlp");
  a->packed_qkv = r.Bool("packed_qkv");
  a->scale = r.Float("scale");
  a->embedding_scale = r.Float("embedding_scale");
  a->position_offset = r.Int("position_offset");
  a->rotary_dim = r.Int("rotary_dim");
  a->rotary_interleaved = r.Bool("rotary_interleaved");
  a->has_final_norm = r.Bool("has_final_norm");
  a->lm_head_transposed = r.Bool("lm_head_transposed");
  a->final_norm_eps = r.Float("final_norm_eps");
  a->cross_attention = r.Bool("cross_attention");
  a->fill_cross_cache = r.Bool("fill_cross_cache");
  a->has_source_mask = r.Bool("has_source_mask");
  a->has_position_bias = r.Bool("has_position_bias");
  a->has_embedding_norm = r.Bool("has_embedding_norm");
  a->embedding_norm_eps = r.Float("embedding_norm_eps");
  a->embedding_norm_before_positions = r.Bool("embedding_norm_before_positions");
  const std::string norm = r.String("norm_kind"), act = r.String("activation"), rows = r.String("logits_rows"),
                    precision = r.String("weight_precision");
  if (!r.ok) return false;
  a->eps1 = r.FloatList("norm_eps1", a->num_layers);
  a->eps2 = r.FloatList("norm_eps2", a->num_layers);
  a->eps_cross = r.FloatList("norm_eps_cross", a->num_layers);
  if (!r.ok) return false;
  std::string error;
  if (norm != "layer" && norm != "rms") error = "norm_kind must be layer or rms";
  else if (!ParseDecoderActivation(act, &a->activation)) error = "activation must be gelu, gelu_tanh, relu or silu";
  else if (rows != "last" && rows != "all") error = "logits_rows must be last or all";
  else if (precision != "float32" && precision != "bfloat16") error = "weight_precision must be float32 or bfloat16";
  else if (!std::isfinite(a->scale) || !std::isfinite(a->embedding_scale)) error = "scale and embedding_scale must be finite";
  else if (a->position_offset < 0) error = "position_offset must be non-negative";
  else if (a->cross_attention && a->parallel) error = "cross_attention cannot be used with parallel layers";
  else if (!a->cross_attention && (a->fill_cross_cache || a->has_source_mask))
    error = "fill_cross_cache and has_source_mask need cross_attention";
  else if (a->embedding_norm_before_positions && !a->has_embedding_norm)
    error = "embedding_norm_before_positions needs has_embedding_norm";
  if (error.empty()) error = bt_checks::DecoderHeadsError(a->num_heads, a->num_kv_heads, a->head_dim);
  if (error.empty()) error = bt_checks::RotaryDimError(a->rotary_dim, a->head_dim);
  const auto bad_eps = [](float eps) { return !std::isfinite(eps) || eps < 0; };
  if (error.empty() && (bad_eps(a->final_norm_eps) || bad_eps(a->embedding_norm_eps)))
    error = "final_norm_eps and embedding_norm_eps must be finite and non-negative";
  for (int32_t l = 0; error.empty() && l < a->num_layers; ++l) {
    if (bad_eps(a->eps1[l]) || bad_eps(a->eps2[l]) || bad_eps(a->eps_cross[l]))
      error = "norm_eps1, norm_eps2 and norm_eps_cross must be finite and non-negative";
  }
  if (!error.empty()) {
    FailConstruction(ctx, error);
    return false;
  }
  a->norm_kind = norm == "rms" ? BTK_NORM_RMS : BTK_NORM_LAYER;
  a->logits_all = rows == "all";
  a->bf16_weights = precision == "bfloat16";
  return true;
}

void ReadDecoderStackInputs(TF_OpKernelContext* ctx, const DecoderOpAttrs& a, DecoderStackInputs* in) {
  TensorPtr ids = Input(ctx, 0, "input_ids", TF_INT32);
  const auto id_shape = ShapeOf(ids.get());
  if (id_shape.size() != 2) throw InvalidArgument{"input_ids must have rank 2 [B, N], got " + ShapeString(id_shape)};
  in->batch = id_shape[0];
  in->new_len = id_shape[1];
  in->key_cache = Input(ctx, 3, "key_cache", TF_FLOAT);
  in->value_cache = Input(ctx, 4, "value_cache", TF_FLOAT);
  in->globals.clear();
  for (int i = 0; i < kDecoderGlobalInputs; ++i) {
    in->globals.push_back(Input(ctx, kDecoderFirstWeight + i, kGlobalNames[i], TF_FLOAT));
  }
  auto& g = in->globals;
  const auto word = ShapeOf(g[kWordEmbeddings].get());
  if (word.size() != 2 || word[0] < 1 || word[1] < 1) {
    throw InvalidArgument{"word_embeddings must have shape [vocab, E] with vocab, E >= 1, got " + ShapeString(word)};
  }
  const int64_t vocab = word[0], e = word[1];
  in->vocab = vocab;
  in->embed = e;
  const int64_t d = a.head_dim, q_width = int64_t{a.num_heads} * d, kv_width = int64_t{a.num_kv_heads} * d;
  const int64_t qkv_width = q_width + 2 * kv_width;

  // Optional [E] vectors (norm gammas and betas, biases) are present or [0]-shaped placeholders.
  const auto optional = [](const TensorPtr& t, const std::vector<int64_t>& shape, const std::string& name) {
    if (!IsPlaceholder(t.get())) RequireShape(t.get(), shape, name.c_str());
  };
  const auto required = [](const TensorPtr& t, const std::vector<int64_t>& shape, const std::string& name) {
    RequireShape(t.get(), shape, name.c_str());
  };

  in->position_rows = 0;
  if (!IsPlaceholder(g[kPositionEmbeddings].get())) {
    const auto ps = ShapeOf(g[kPositionEmbeddings].get());
    if (ps.size() != 2 || ps[1] != e || ps[0] < 1) {
      throw InvalidArgument{"position_embeddings must have shape [rows, E = " + std::to_string(e) + "], got " +
                            ShapeString(ps)};
    }
    in->position_rows = ps[0];
  }
  in->rotary_rows = 0;
  if (a.rotary_dim > 0) {
    const auto cs = ShapeOf(g[kRotaryCos].get());
    if (cs.size() != 2 || cs[0] < 1 || cs[1] != a.rotary_dim / 2) {
      throw InvalidArgument{"rotary_cos must have shape [rows, rotary_dim / 2 = " + std::to_string(a.rotary_dim / 2) +
                            "], got " + ShapeString(cs)};
    }
    required(g[kRotarySin], cs, "rotary_sin");
    in->rotary_rows = cs[0];
  }
  optional(g[kFinalNormGamma], {e}, "final_norm_gamma");
  optional(g[kFinalNormBeta], {e}, "final_norm_beta");
  required(g[kLmHead], a.lm_head_transposed ? std::vector<int64_t>{vocab, e} : std::vector<int64_t>{e, vocab}, "lm_head");
  optional(g[kLmHeadBias], {vocab}, "lm_head_bias");
  optional(g[kEmbeddingNormGamma], {e}, "embedding_norm_gamma");
  optional(g[kEmbeddingNormBeta], {e}, "embedding_norm_beta");
  in->position_bias_rows = 0;
  if (a.has_position_bias) {
    const auto ps = ShapeOf(g[kPositionBias].get());
    if (ps.size() != 2 || ps[0] != a.num_heads || ps[1] < 1) {
      throw InvalidArgument{"position_bias must have shape [H = " + std::to_string(a.num_heads) +
                            ", P] with P >= 1, got " + ShapeString(ps)};
    }
    in->position_bias_rows = ps[1];
  }

  in->layers.clear();
  in->layers.resize(static_cast<size_t>(a.num_layers));
  in->ffn = 0;
  for (int32_t l = 0; l < a.num_layers; ++l) {
    auto& t = in->layers[static_cast<size_t>(l)];
    const std::string label = "layer " + std::to_string(l) + ": ";
    const int first = kDecoderFirstWeight + kDecoderGlobalInputs + kDecoderLayerInputs * l;
    for (int i = 0; i < kDecoderLayerInputs; ++i) {
      t.push_back(Input(ctx, first + i, (label + kLayerNames[i]).c_str(), TF_FLOAT));
    }
    const auto name = [&](int i) { return label + kLayerNames[i]; };
    if (l == 0) {
      const auto up = ShapeOf(t[kUpWeight].get());
      if (up.size() != 2 || up[0] != e || up[1] < 1) {
        throw InvalidArgument{name(kUpWeight) + " must have shape [E, F] with F >= 1, got " + ShapeString(up)};
      }
      in->ffn = up[1];
    }
    const int64_t f = in->ffn;
    for (int i : {kNorm1Gamma, kNorm1Beta, kNorm2Gamma, kNorm2Beta, kOutBias, kDownBias}) optional(t[i], {e}, name(i));
    if (a.packed_qkv) {
      required(t[kQkvWeight], {e, qkv_width}, name(kQkvWeight));
      optional(t[kQkvBias], {qkv_width}, name(kQkvBias));
    } else {
      required(t[kQWeight], {e, q_width}, name(kQWeight));
      required(t[kKWeight], {e, kv_width}, name(kKWeight));
      required(t[kVWeight], {e, kv_width}, name(kVWeight));
      optional(t[kQBias], {q_width}, name(kQBias));
      optional(t[kKBias], {kv_width}, name(kKBias));
      optional(t[kVBias], {kv_width}, name(kVBias));
    }
    required(t[kOutWeight], {q_width, e}, name(kOutWeight));
    if (a.gated_mlp) {
      required(t[kGateWeight], {e, f}, name(kGateWeight));
      optional(t[kGateBias], {f}, name(kGateBias));
    }
    required(t[kUpWeight], {e, f}, name(kUpWeight));
    optional(t[kUpBias], {f}, name(kUpBias));
    required(t[kDownWeight], {f, e}, name(kDownWeight));
    if (a.cross_attention) {
      for (int i : {kCrossNormGamma, kCrossNormBeta, kCrossOutBias}) optional(t[i], {e}, name(i));
      required(t[kCrossQWeight], {e, q_width}, name(kCrossQWeight));
      required(t[kCrossKWeight], {e, kv_width}, name(kCrossKWeight));
      required(t[kCrossVWeight], {e, kv_width}, name(kCrossVWeight));
      required(t[kCrossOutWeight], {q_width, e}, name(kCrossOutWeight));
      optional(t[kCrossQBias], {q_width}, name(kCrossQBias));
      optional(t[kCrossKBias], {kv_width}, name(kCrossKBias));
      optional(t[kCrossVBias], {kv_width}, name(kCrossVBias));
    }
  }

  const auto cache_shape = ShapeOf(in->key_cache.get());
  if (cache_shape.size() != 5) {
    throw InvalidArgument{"key_cache must have rank 5 [layers, B, Hkv, C, D], got " + ShapeString(cache_shape)};
  }
  in->capacity = cache_shape[3];
  const std::vector<int64_t> want{a.num_layers, in->batch, a.num_kv_heads, in->capacity, d};
  required(in->key_cache, want, "key_cache");
  required(in->value_cache, want, "value_cache");
  RequireDistinctCaches(in->key_cache.get(), in->value_cache.get());

  // The encoder side: cross caches [layers, B, Hkv, S, D], encoder states [B, S, E], the source mask [B, S].
  in->cross_key_cache = Input(ctx, 6, "cross_key_cache", TF_FLOAT);
  in->cross_value_cache = Input(ctx, 7, "cross_value_cache", TF_FLOAT);
  TensorPtr source_mask = Input(ctx, 5, "source_mask", TF_INT32);
  in->source_len = 0;
  in->source_mask.clear();
  if (a.cross_attention) {
    const auto cs = ShapeOf(in->cross_key_cache.get());
    if (cs.size() != 5) {
      throw InvalidArgument{"cross_key_cache must have rank 5 [layers, B, Hkv, S, D], got " + ShapeString(cs)};
    }
    in->source_len = cs[3];
    if (in->batch > 0 && in->source_len < 1) throw InvalidArgument{"cross caches need S >= 1 source rows"};
    const std::vector<int64_t> cross{a.num_layers, in->batch, a.num_kv_heads, in->source_len, d};
    required(in->cross_key_cache, cross, "cross_key_cache");
    required(in->cross_value_cache, cross, "cross_value_cache");
    if (NumElements(cross) > 0 && TF_TensorData(in->cross_key_cache.get()) == TF_TensorData(in->cross_value_cache.get()))
      throw InvalidArgument{"cross_key_cache and cross_value_cache share one buffer: pass two tensors"};
    if (a.fill_cross_cache) required(g[kEncoderStates], {in->batch, in->source_len, e}, "encoder_states");
    if (a.has_source_mask) {
      RequireShape(source_mask.get(), {in->batch, in->source_len}, "source_mask");
      in->source_mask = Int32Values(source_mask.get());
      ThrowIf(bt_checks::SourceMaskError(in->batch, in->source_len, in->source_mask.data()));
    }
  }

  TensorPtr past = Input(ctx, 1, "past_lengths", TF_INT32), fresh = Input(ctx, 2, "new_lengths", TF_INT32);
  RequireShape(past.get(), {in->batch}, "past_lengths");
  RequireShape(fresh.get(), {in->batch}, "new_lengths");
  in->past = Int32Values(past.get());
  in->fresh = Int32Values(fresh.get());
  in->input_ids = Int32Values(ids.get());
  ThrowIf(bt_checks::CacheLengthsError(in->batch, in->new_len, in->capacity, in->past.data(), in->fresh.data()));
  ThrowIf(bt_checks::TokenIdsError(in->batch, in->new_len, in->input_ids.data(), in->fresh.data(), vocab));
  ThrowIf(bt_checks::StepPositionsError(in->batch, in->past.data(), in->fresh.data(), in->position_rows,
                                        a.position_offset, in->rotary_rows));
  if (in->position_bias_rows > 0)
    ThrowIf(bt_checks::PositionBiasError(in->batch, in->past.data(), in->fresh.data(), in->position_bias_rows));
}

// ---- BtReorderCache ----

void ReadReorderCacheInputs(TF_OpKernelContext* ctx, ReorderCacheInputs* in) {
  in->key_cache = Input(ctx, 0, "key_cache", TF_FLOAT);
  in->value_cache = Input(ctx, 1, "value_cache", TF_FLOAT);
  const auto shape = ShapeOf(in->key_cache.get());
  if (shape.size() != 5) throw InvalidArgument{"key_cache must have rank 5 [layers, B, Hkv, C, D], got " + ShapeString(shape)};
  in->layers = shape[0];
  in->batch = shape[1];
  in->kv_heads = shape[2];
  in->capacity = shape[3];
  in->head_dim = shape[4];
  RequireShape(in->value_cache.get(), shape, "value_cache");
  RequireDistinctCaches(in->key_cache.get(), in->value_cache.get());
  in->lengths = Lengths(ctx, 2, "lengths", in->batch);
  in->source_rows = Lengths(ctx, 3, "source_rows", in->batch);
  ThrowIf(bt_checks::ReorderRowsError(in->batch, in->capacity, in->lengths.data(), in->source_rows.data()));
}

}  // namespace bt_tf
