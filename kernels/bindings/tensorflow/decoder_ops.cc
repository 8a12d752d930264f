// TensorFlow ops BtRmsNorm, BtRotaryEmbedding, BtAttentionWithKVCache,
// BtTransformerDecoderStack and BtReorderCache: their definitions and CPU
// kernels, over the native core's btk_rms_norm, btk_rotary_embedding,
// btk_attention_with_kv_cache, btk_transformer_decoder_stack and
// btk_reorder_cache. Inputs, attributes and outputs mirror the tfjs
// kernels of the same names (the inputs are read and checked in
// decoder_inputs.cc).
//
// The key/value caches are donated: the kernels write the new rows into the
// input caches' own buffers and return those same tensors as the key_cache_out
// and value_cache_out outputs (TF_SetOutput with the input tensor), so a step
// never copies the past. Every tensor sharing a cache's buffer sees the update.
// The cross caches of an encoder-decoder step (filled from the encoder states)
// and BtReorderCache's caches (rows reordered) are donated the same way.
//
// BtTransformerDecoderStack's weights are read in place (float32), or, with
// weight_precision 'bfloat16', from bfloat16 copies (btk_pack_weight_bf16) made
// once per weight buffer and kept in the op library's bounded weight cache
// (packed_weight_cache.h).
#include <cmath>
#include <string>
#include <vector>

#include "btk.h"
#include "btk_support.h"
#include "decoder_inputs.h"
#include "ops_registry.h"
#include "packed_weight_cache.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {

using namespace decoder_layer;  // NOLINT: the layer weight indices
namespace {

// ---- BtRmsNorm ----

struct RmsNormAttrs {
  float epsilon;
};

void* CreateRmsNorm(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new RmsNormAttrs{r.Float("epsilon")};
  if (r.ok && !(std::isfinite(a->epsilon) && a->epsilon >= 0)) FailConstruction(ctx, "epsilon must be finite and non-negative");
  return a;
}

void DeleteRmsNorm(void* a) { delete static_cast<RmsNormAttrs*>(a); }

void ComputeRmsNorm(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    RmsNormInputs in;
    ReadRmsNormInputs(ctx, &in);
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.rows * in.width == 0) return;
    CheckBtk(btk_rms_norm(in.rows, in.width, FloatData(in.x.get()), FloatData(in.gamma.get()),
                          static_cast<RmsNormAttrs*>(attrs)->epsilon, FloatData(y.get())),
             "rms norm");
  });
}

// ---- BtRotaryEmbedding ----

struct RotaryAttrs {
  int32_t rotary_dim;
  bool interleaved;
};

void* CreateRotary(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new RotaryAttrs{r.Int("rotary_dim"), r.Bool("interleaved")};
  if (r.ok && (a->rotary_dim < 0 || a->rotary_dim % 2 != 0)) FailConstruction(ctx, "rotary_dim must be even and non-negative");
  return a;
}

void DeleteRotary(void* a) { delete static_cast<RotaryAttrs*>(a); }

void ComputeRotary(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& a = *static_cast<RotaryAttrs*>(attrs);
    RotaryInputs in;
    ReadRotaryInputs(ctx, a.rotary_dim, &in);
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.batch * in.heads * in.seq * in.head_dim == 0) return;
    btk_rotary rotary{};
    rotary.rotary_dim = a.rotary_dim;
    rotary.interleaved = a.interleaved ? 1 : 0;
    if (a.rotary_dim > 0) {
      rotary.cos = FloatData(in.cos.get());
      rotary.sin = FloatData(in.sin.get());
      rotary.table_rows = in.table_rows;
    }
    CheckBtk(btk_rotary_embedding(&rotary, in.batch, in.heads, in.seq, in.head_dim, FloatData(in.x.get()),
                                  in.position_values.empty() ? nullptr : in.position_values.data(), FloatData(y.get())),
             "rotary embedding");
  });
}

// ---- BtAttentionWithKVCache ----

struct KvCacheAttrs {
  float scale;
};

void* CreateKvCache(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new KvCacheAttrs{r.Float("scale")};
  if (r.ok && !std::isfinite(a->scale)) FailConstruction(ctx, "scale must be finite");
  return a;
}

void DeleteKvCache(void* a) { delete static_cast<KvCacheAttrs*>(a); }

void ComputeKvCache(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    KvCacheInputs in;
    ReadKvCacheInputs(ctx, &in);
    btk_kv_cache_problem p{};
    p.batch = in.batch;
    p.heads = in.heads;
    p.kv_heads = in.kv_heads;
    p.new_len = in.new_len;
    p.capacity = in.capacity;
    p.head_dim = in.head_dim;
    p.value_dim = in.value_dim;
    p.scale = static_cast<KvCacheAttrs*>(attrs)->scale;
    p.past_lengths = in.past.data();
    p.new_lengths = in.fresh.data();
    TensorPtr out = Output(ctx, 0, {in.batch, in.heads, in.new_len, in.value_dim});
    TensorPtr lengths = OutputOf(ctx, 3, {in.batch}, TF_INT32);
    CheckBtk(btk_attention_with_kv_cache(&p, FloatData(in.q.get()), FloatData(in.k.get()), FloatData(in.v.get()),
                                         FloatData(in.key_cache.get()), FloatData(in.value_cache.get()),
                                         FloatData(out.get()), static_cast<int32_t*>(TF_TensorData(lengths.get()))),
             "attention with kv cache");
    ForwardAsOutput(ctx, 1, in.key_cache.get());
    ForwardAsOutput(ctx, 2, in.value_cache.get());
  });
}

// ---- BtTransformerDecoderStack ----

void* CreateDecoderStack(TF_OpKernelConstruction* ctx) {
  auto* a = new DecoderOpAttrs{};
  ReadDecoderStackAttrs(ctx, a);
  return a;
}

void DeleteDecoderStack(void* a) { delete static_cast<DecoderOpAttrs*>(a); }

// The weights as the core reads them: in place (float32), or bfloat16 copies from the cache.
class DecoderWeights {
 public:
  explicit DecoderWeights(bool bf16) : bf16_(bf16) {}

  // A [in, out] weight (stored [out, in] when transposed).
  btk_weight Weight(TensorPtr& t, int64_t in, int64_t out, bool transposed = false) {
    btk_weight w{};
    w.data = FloatData(t.get());
    w.in_dim = in;
    w.out_dim = out;
    w.transposed = transposed ? 1 : 0;
    if (bf16_) {
      packs_.push_back(CachedBf16Weight(t, in, out, transposed));  // may take t (null afterwards)
      w.packed = packs_.back().get();
    }
    return w;
  }

  static const float* Optional(const TensorPtr& t) { return IsPlaceholder(t.get()) ? nullptr : FloatData(t.get()); }

 private:
  bool bf16_;
  std::vector<SharedPackedWeight> packs_;  // alive until the core has run
};

void ComputeDecoderStack(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& a = *static_cast<DecoderOpAttrs*>(attrs);
    DecoderStackInputs in;
    ReadDecoderStackInputs(ctx, a, &in);
    const int64_t e = in.embed, d = a.head_dim, q_width = int64_t{a.num_heads} * d,
                  kv_width = int64_t{a.num_kv_heads} * d;
    DecoderWeights weights(a.bf16_weights);
    const auto opt = &DecoderWeights::Optional;
    auto& g = in.globals;

    btk_decoder m{};
    m.num_layers = a.num_layers;
    m.vocab_size = in.vocab;
    m.embed_dim = e;
    m.num_heads = a.num_heads;
    m.num_kv_heads = a.num_kv_heads;
    m.head_dim = d;
    m.norm_kind = a.norm_kind;
    m.norm_first = a.norm_first ? 1 : 0;
    m.parallel = a.parallel ? 1 : 0;
    m.parallel_shared_norm = a.parallel_shared_norm ? 1 : 0;
    m.activation = a.activation;
    m.gated_mlp = a.gated_mlp ? 1 : 0;
    m.attention_scale = a.scale;
    m.word_embeddings = FloatData(g[kWordEmbeddings].get());
    m.embedding_scale = a.embedding_scale;
    if (in.position_rows > 0) {
      m.position_embeddings = FloatData(g[kPositionEmbeddings].get());
      m.position_rows = in.position_rows;
      m.position_offset = a.position_offset;
    }
    if (a.rotary_dim > 0) {
      m.rotary.rotary_dim = a.rotary_dim;
      m.rotary.interleaved = a.rotary_interleaved ? 1 : 0;
      m.rotary.cos = FloatData(g[kRotaryCos].get());
      m.rotary.sin = FloatData(g[kRotarySin].get());
      m.rotary.table_rows = in.rotary_rows;
    }
    m.has_final_norm = a.has_final_norm ? 1 : 0;
    m.final_norm_gamma = opt(g[kFinalNormGamma]);
    m.final_norm_beta = a.norm_kind == BTK_NORM_RMS ? nullptr : opt(g[kFinalNormBeta]);
    m.final_norm_eps = a.final_norm_eps;
    m.lm_head_bias = opt(g[kLmHeadBias]);
    m.lm_head = weights.Weight(g[kLmHead], e, in.vocab, a.lm_head_transposed);
    m.cross_attention = a.cross_attention ? 1 : 0;
    if (a.has_embedding_norm) {
      m.has_embedding_norm = 1;
      m.embedding_norm_gamma = opt(g[kEmbeddingNormGamma]);
      m.embedding_norm_beta = a.norm_kind == BTK_NORM_RMS ? nullptr : opt(g[kEmbeddingNormBeta]);
      m.embedding_norm_eps = a.embedding_norm_eps;
      m.embedding_norm_before_positions = a.embedding_norm_before_positions ? 1 : 0;
    }
    if (in.position_bias_rows > 0) {
      m.position_bias = FloatData(g[kPositionBias].get());
      m.position_bias_rows = in.position_bias_rows;
    }

    std::vector<btk_decoder_layer> layers(static_cast<size_t>(a.num_layers));
    for (int32_t l = 0; l < a.num_layers; ++l) {
      auto& t = in.layers[static_cast<size_t>(l)];
      btk_decoder_layer& L = layers[static_cast<size_t>(l)];
      const bool rms = a.norm_kind == BTK_NORM_RMS;
      L.norm1_gamma = opt(t[kNorm1Gamma]);
      L.norm1_beta = rms ? nullptr : opt(t[kNorm1Beta]);
      L.norm2_gamma = opt(t[kNorm2Gamma]);
      L.norm2_beta = rms ? nullptr : opt(t[kNorm2Beta]);
      L.norm1_eps = a.eps1[static_cast<size_t>(l)];
      L.norm2_eps = a.eps2[static_cast<size_t>(l)];
      if (a.packed_qkv) {
        L.b_qkv = opt(t[kQkvBias]);
        L.w_qkv = weights.Weight(t[kQkvWeight], e, q_width + 2 * kv_width);
      } else {
        L.b_q = opt(t[kQBias]);
        L.b_k = opt(t[kKBias]);
        L.b_v = opt(t[kVBias]);
        L.w_q = weights.Weight(t[kQWeight], e, q_width);
        L.w_k = weights.Weight(t[kKWeight], e, kv_width);
        L.w_v = weights.Weight(t[kVWeight], e, kv_width);
      }
      L.b_o = opt(t[kOutBias]);
      L.w_o = weights.Weight(t[kOutWeight], q_width, e);
      if (a.gated_mlp) {
        L.b_gate = opt(t[kGateBias]);
        L.w_gate = weights.Weight(t[kGateWeight], e, in.ffn);
      }
      L.b_up = opt(t[kUpBias]);
      L.w_up = weights.Weight(t[kUpWeight], e, in.ffn);
      L.b_down = opt(t[kDownBias]);
      L.w_down = weights.Weight(t[kDownWeight], in.ffn, e);
      if (a.cross_attention) {
        L.cross_norm_gamma = opt(t[kCrossNormGamma]);
        L.cross_norm_beta = rms ? nullptr : opt(t[kCrossNormBeta]);
        L.cross_norm_eps = a.eps_cross[static_cast<size_t>(l)];
        L.b_cross_q = opt(t[kCrossQBias]);
        L.b_cross_k = opt(t[kCrossKBias]);
        L.b_cross_v = opt(t[kCrossVBias]);
        L.b_cross_o = opt(t[kCrossOutBias]);
        L.w_cross_q = weights.Weight(t[kCrossQWeight], e, q_width);
        L.w_cross_k = weights.Weight(t[kCrossKWeight], e, kv_width);
        L.w_cross_v = weights.Weight(t[kCrossVWeight], e, kv_width);
        L.w_cross_o = weights.Weight(t[kCrossOutWeight], q_width, e);
      }
    }
    m.layers = layers.empty() ? nullptr : layers.data();

    const std::vector<int64_t> logits_shape =
        a.logits_all ? std::vector<int64_t>{in.batch, in.new_len, in.vocab} : std::vector<int64_t>{in.batch, in.vocab};
    TensorPtr logits = Output(ctx, 0, logits_shape);
    TensorPtr lengths = OutputOf(ctx, 3, {in.batch}, TF_INT32);
    btk_decoder_step step{};
    step.batch = in.batch;
    step.new_len = in.new_len;
    step.capacity = in.capacity;
    step.input_ids = in.input_ids.empty() ? nullptr : in.input_ids.data();
    step.past_lengths = in.past.data();
    step.new_lengths = in.fresh.data();
    step.key_cache = FloatData(in.key_cache.get());
    step.value_cache = FloatData(in.value_cache.get());
    step.logits_rows = a.logits_all ? BTK_LOGITS_ALL : BTK_LOGITS_LAST;
    step.logits = FloatData(logits.get());
    step.lengths = static_cast<int32_t*>(TF_TensorData(lengths.get()));
    if (a.cross_attention) {
      step.source_len = in.source_len;
      step.cross_key_cache = FloatData(in.cross_key_cache.get());
      step.cross_value_cache = FloatData(in.cross_value_cache.get());
      if (a.fill_cross_cache) step.encoder_states = FloatData(g[kEncoderStates].get());
      if (a.has_source_mask) step.source_mask = in.source_mask.data();
    }
    CheckBtk(btk_transformer_decoder_stack(&m, &step), "transformer decoder stack");
    ForwardAsOutput(ctx, 1, in.key_cache.get());
    ForwardAsOutput(ctx, 2, in.value_cache.get());
    ForwardAsOutput(ctx, 4, in.cross_key_cache.get());  // the placeholders pass through without cross-attention
    ForwardAsOutput(ctx, 5, in.cross_value_cache.get());
  });
}

// ---- BtReorderCache ----

void* CreateReorder(TF_OpKernelConstruction*) { return nullptr; }
void DeleteReorder(void*) {}

void ComputeReorder(void*, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    ReorderCacheInputs in;
    ReadReorderCacheInputs(ctx, &in);
    TensorPtr lengths = OutputOf(ctx, 2, {in.batch}, TF_INT32);
    auto* out_lengths = static_cast<int32_t*>(TF_TensorData(lengths.get()));
    for (int64_t b = 0; b < in.batch; ++b) out_lengths[b] = in.lengths[static_cast<size_t>(b)];
    CheckBtk(btk_reorder_cache(FloatData(in.key_cache.get()), FloatData(in.value_cache.get()), out_lengths,
                               in.source_rows.empty() ? nullptr : in.source_rows.data(), in.layers, in.batch,
                               in.kv_heads, in.capacity, in.head_dim),
             "reorder cache");
    ForwardAsOutput(ctx, 0, in.key_cache.get());
    ForwardAsOutput(ctx, 1, in.value_cache.get());
  });
}

void AddOutputs(TF_OpDefinitionBuilder* b, const char* first) {
  TF_OpDefinitionBuilderAddOutput(b, first);
  TF_OpDefinitionBuilderAddOutput(b, "key_cache_out: float");
  TF_OpDefinitionBuilderAddOutput(b, "value_cache_out: float");
  TF_OpDefinitionBuilderAddOutput(b, "lengths: int32");
}

}  // namespace

void DefineRmsNorm(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kRmsNormOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  TF_OpDefinitionBuilderAddInput(b, "gamma: float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  TF_OpDefinitionBuilderAddAttr(b, "epsilon: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineRotaryEmbedding(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kRotaryEmbeddingOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  TF_OpDefinitionBuilderAddInput(b, "positions: int32");
  TF_OpDefinitionBuilderAddInput(b, "cos: float");
  TF_OpDefinitionBuilderAddInput(b, "sin: float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  TF_OpDefinitionBuilderAddAttr(b, "rotary_dim: int");
  TF_OpDefinitionBuilderAddAttr(b, "interleaved: bool");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineAttentionWithKVCache(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kAttentionWithKVCacheOp);
  for (const char* input : {"q: float", "k: float", "v: float", "key_cache: float", "value_cache: float",
                            "past_lengths: int32", "new_lengths: int32"}) {
    TF_OpDefinitionBuilderAddInput(b, input);
  }
  AddOutputs(b, "out: float");
  TF_OpDefinitionBuilderAddAttr(b, "scale: float");
  TF_OpDefinitionBuilderAddAttr(b, "precision: string = 'high'");  // the GPU kernel's; ignored on the CPU
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineTransformerDecoderStack(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kTransformerDecoderStackOp);
  for (const char* input : {"input_ids: int32", "past_lengths: int32", "new_lengths: int32", "key_cache: float",
                            "value_cache: float", "source_mask: int32", "cross_key_cache: float",
                            "cross_value_cache: float", "weights: N * float"}) {
    TF_OpDefinitionBuilderAddInput(b, input);
  }
  AddOutputs(b, "logits: float");
  TF_OpDefinitionBuilderAddOutput(b, "cross_key_cache_out: float");
  TF_OpDefinitionBuilderAddOutput(b, "cross_value_cache_out: float");
  for (const char* attr :
       {"N: int >= 12", "num_layers: int", "num_heads: int", "num_kv_heads: int", "head_dim: int", "norm_kind: string",
        "norm_first: bool", "parallel: bool", "parallel_shared_norm: bool", "activation: string", "gated_mlp: bool",
        "packed_qkv: bool", "scale: float", "embedding_scale: float", "position_offset: int", "rotary_dim: int",
        "rotary_interleaved: bool", "has_final_norm: bool", "lm_head_transposed: bool", "norm_eps1: list(float)",
        "norm_eps2: list(float)", "final_norm_eps: float", "logits_rows: string", "weight_precision: string",
        "cross_attention: bool", "fill_cross_cache: bool", "has_source_mask: bool", "has_position_bias: bool",
        "norm_eps_cross: list(float)", "has_embedding_norm: bool", "embedding_norm_eps: float",
        "embedding_norm_before_positions: bool",
        "precision: string = 'high'"}) {  // the GPU kernel's; ignored on the CPU
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineReorderCache(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kReorderCacheOp);
  for (const char* input : {"key_cache: float", "value_cache: float", "lengths: int32", "source_rows: int32"}) {
    TF_OpDefinitionBuilderAddInput(b, input);
  }
  TF_OpDefinitionBuilderAddOutput(b, "key_cache_out: float");
  TF_OpDefinitionBuilderAddOutput(b, "value_cache_out: float");
  TF_OpDefinitionBuilderAddOutput(b, "lengths_out: int32");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void RegisterReorderCacheCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kReorderCacheOp, "CPU", &CreateReorder, &ComputeReorder, &DeleteReorder);
  TF_RegisterKernelBuilder(kReorderCacheOp, k, status);
}

void RegisterRmsNormCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kRmsNormOp, "CPU", &CreateRmsNorm, &ComputeRmsNorm, &DeleteRmsNorm);
  TF_RegisterKernelBuilder(kRmsNormOp, k, status);
}

void RegisterRotaryEmbeddingCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kRotaryEmbeddingOp, "CPU", &CreateRotary, &ComputeRotary, &DeleteRotary);
  TF_RegisterKernelBuilder(kRotaryEmbeddingOp, k, status);
}

void RegisterAttentionWithKVCacheCpu(TF_Status* status) {
  TF_KernelBuilder* k =
      TF_NewKernelBuilder(kAttentionWithKVCacheOp, "CPU", &CreateKvCache, &ComputeKvCache, &DeleteKvCache);
  TF_RegisterKernelBuilder(kAttentionWithKVCacheOp, k, status);
}

void RegisterTransformerDecoderStackCpu(TF_Status* status) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(kTransformerDecoderStackOp, "CPU", &CreateDecoderStack,
                                            &ComputeDecoderStack, &DeleteDecoderStack);
  TF_RegisterKernelBuilder(kTransformerDecoderStackOp, k, status);
}

}  // namespace bt_tf
