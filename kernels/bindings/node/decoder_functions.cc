// The addon's functions for decoding: rmsNorm, rotaryEmbedding,
// attentionWithKVCache, transformerDecoderStack, reorderCache (ops) and
// packWeightBf16 (a building block). Same contract as addon.cc: one options object, every array
// length and every id/length value checked before native code runs, outputs
// written in place. The caches of attentionWithKVCache and
// transformerDecoderStack are in/out arrays: appended to in place.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../../include/btk.h"
#include "arg_reader.h"
#include "decoder_functions.h"
#include "weight_handle.h"

namespace btk_addon {
namespace {

void throw_on_failure(const ArgReader& args, btk_status status) {
  if (status == BTK_OUT_OF_MEMORY) throw Napi::Error::New(args.env(), "out of memory");
  if (status != BTK_OK) args.range_error("rejected by the native core (an argument check is missing in the addon)");
}

float finite_float(const ArgReader& args, const char* name, double fallback) {
  const double value = args.number_or(name, fallback);
  if (!std::isfinite(value) || std::fabs(value) > 3.4028234663852886e38)
    args.range_error(args.qualified(name) + " must be a finite float32 number");
  return static_cast<float>(value);
}

// packWeightBf16(weight: Float32Array, rows, cols, transposed = false) -> handle: a bfloat16 copy of a
// [rows=in, cols=out] weight (stored [cols][rows] when transposed).
Napi::Value pack_weight_bf16(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (info.Length() < 3 || info.Length() > 4 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(env, "packWeightBf16: expected (weight: Float32Array, rows, cols, transposed?)");
  auto dimension = [&](const Napi::Value& value, const char* name) -> int64_t {
    if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string("packWeightBf16: ") + name + " must be a number");
    const double number = value.As<Napi::Number>().DoubleValue();
    if (!(number >= 1 && number <= static_cast<double>(kMaxDimension)) || number != std::floor(number))
      throw Napi::RangeError::New(env, std::string("packWeightBf16: ") + name + " must be a positive integer");
    return static_cast<int64_t>(number);
  };
  const int64_t rows = dimension(info[1], "rows"), cols = dimension(info[2], "cols");
  bool transposed = false;
  if (info.Length() == 4) {
    if (!info[3].IsBoolean()) throw Napi::TypeError::New(env, "packWeightBf16: transposed must be a boolean");
    transposed = info[3].As<Napi::Boolean>().Value();
  }
  Napi::Float32Array weight = info[0].As<Napi::Float32Array>();
  if (rows > kMaxElements / cols || static_cast<int64_t>(weight.ElementLength()) != rows * cols)
    throw Napi::RangeError::New(env, "packWeightBf16: weight has " + std::to_string(weight.ElementLength()) +
                                         " elements, expected rows*cols = " + std::to_string(rows * cols));
  btk_packed_weight* packed = btk_pack_weight_bf16(weight.Data(), rows, cols, transposed ? 1 : 0);
  if (!packed) throw Napi::Error::New(env, "packWeightBf16: out of memory");
  return new_weight_handle(env, packed);
}

// rmsNorm({x, rows, cols, gamma?, eps = 1e-6, out})
Napi::Value rms_norm(const Napi::CallbackInfo& info) {
  ArgReader args(info, "rmsNorm");
  const int64_t rows = args.dimension("rows"), cols = args.dimension("cols");
  const int64_t size = args.product({rows, cols}, "rows*cols");
  const float eps = finite_float(args, "eps", 1e-6);
  const float* x = args.float32("x", size, "rows*cols");
  const float* gamma = args.float32("gamma", cols, "cols", true);
  float* out = args.float32("out", size, "rows*cols", false, true);
  args.check_arrays_before_use();
  throw_on_failure(args, btk_rms_norm(rows, cols, x, gamma, eps, out));
  return info.Env().Undefined();
}

// The rotary fields {rotaryDim, interleaved, cos, sin} (tables [rows, rotaryDim / 2]) next to `head_dim`.
btk_rotary read_rotary(const ArgReader& args, int64_t head_dim, const char* dim_name, const char* cos_name,
                       const char* sin_name, const char* interleaved_name) {
  btk_rotary rotary{};
  rotary.rotary_dim = args.dimension_or(dim_name, 0);
  if (rotary.rotary_dim == 0) return rotary;
  if (rotary.rotary_dim % 2 != 0 || rotary.rotary_dim > head_dim)
    args.range_error(args.qualified(dim_name) + " must be even and at most the head size " + std::to_string(head_dim));
  rotary.interleaved = args.boolean_or(interleaved_name, false) ? 1 : 0;
  const int64_t half = rotary.rotary_dim / 2;
  int64_t length = 0;
  rotary.cos = args.float32_any(cos_name, &length);
  if (length == 0 || length % half != 0)
    args.range_error(args.qualified(cos_name) + " has " + std::to_string(length) +
                     " elements, not a positive multiple of rotaryDim/2 = " + std::to_string(half));
  rotary.table_rows = length / half;
  rotary.sin = args.float32(sin_name, length, std::string(cos_name) + ".length");
  return rotary;
}

// rotaryEmbedding({x, positions: Int32Array [B*S], B, H, S, D, rotaryDim, interleaved?, cos, sin, out})
Napi::Value rotary_embedding(const Napi::CallbackInfo& info) {
  ArgReader args(info, "rotaryEmbedding");
  const int64_t batch = args.dimension("B"), heads = args.dimension("H"), seq = args.dimension("S"),
                d = args.dimension("D");
  const int64_t size = args.product({batch, heads, seq, d}, "B*H*S*D");
  const btk_rotary rotary = read_rotary(args, d, "rotaryDim", "cos", "sin", "interleaved");
  const float* x = args.float32("x", size, "B*H*S*D");
  const int32_t* positions = args.int32("positions", args.product({batch, seq}, "B*S"), "B*S");
  float* out = args.float32("out", size, "B*H*S*D", false, true);
  args.check_arrays_before_use();
  for (int64_t i = 0; rotary.rotary_dim > 0 && i < batch * seq; ++i)
    if (positions[i] < 0 || positions[i] >= rotary.table_rows)
      args.range_error("positions[" + std::to_string(i) + "] = " + std::to_string(positions[i]) +
                       " is outside the cos/sin tables' " + std::to_string(rotary.table_rows) + " rows");
  throw_on_failure(args, btk_rotary_embedding(&rotary, batch, heads, seq, d, x, positions, out));
  return info.Env().Undefined();
}

// Past and new lengths [B]: each new length in [0, N], past + new within the capacity C.
void check_lengths(const ArgReader& args, int64_t batch, int64_t new_len, int64_t capacity, const int32_t* past,
                   const int32_t* fresh) {
  for (int64_t b = 0; b < batch; ++b) {
    const std::string at = "[" + std::to_string(b) + "]";
    if (fresh[b] < 0 || fresh[b] > new_len)
      args.range_error("newLengths" + at + " = " + std::to_string(fresh[b]) + " is outside [0, N = " +
                       std::to_string(new_len) + "]");
    if (past[b] < 0) args.range_error("pastLengths" + at + " = " + std::to_string(past[b]) + " is negative");
    if (static_cast<int64_t>(past[b]) + fresh[b] > capacity)
      args.range_error("pastLengths" + at + " + newLengths" + at + " = " +
                       std::to_string(static_cast<int64_t>(past[b]) + fresh[b]) + " exceeds the cache capacity C = " +
                       std::to_string(capacity));
  }
}

// attentionWithKVCache({q, k, v, keyCache, valueCache, pastLengths, newLengths, out, lengths,
//                       B, H, Hkv = H, N, C, D, Dv = D, scale = 1/sqrt(D)})
Napi::Value attention_with_kv_cache(const Napi::CallbackInfo& info) {
  ArgReader args(info, "attentionWithKVCache");
  btk_kv_cache_problem p{};
  p.batch = args.dimension("B");
  p.heads = args.dimension("H");
  p.kv_heads = args.dimension_or("Hkv", p.heads);
  p.new_len = args.dimension("N");
  p.capacity = args.dimension("C");
  p.head_dim = args.dimension("D");
  p.value_dim = args.dimension_or("Dv", p.head_dim);
  if (p.heads > 0 && (p.kv_heads == 0 || p.heads % p.kv_heads != 0))
    args.range_error("H = " + std::to_string(p.heads) + " must be a multiple of Hkv = " + std::to_string(p.kv_heads));
  p.scale = finite_float(args, "scale", p.head_dim > 0 ? 1.0 / std::sqrt(static_cast<double>(p.head_dim)) : 1.0);
  const float* q = args.float32("q", args.product({p.batch, p.heads, p.new_len, p.head_dim}, "B*H*N*D"), "B*H*N*D");
  const float* k = args.float32("k", args.product({p.batch, p.kv_heads, p.new_len, p.head_dim}, "B*Hkv*N*D"), "B*Hkv*N*D");
  const float* v = args.float32("v", args.product({p.batch, p.kv_heads, p.new_len, p.value_dim}, "B*Hkv*N*Dv"), "B*Hkv*N*Dv");
  float* key_cache = args.float32("keyCache", args.product({p.batch, p.kv_heads, p.capacity, p.head_dim}, "B*Hkv*C*D"),
                                  "B*Hkv*C*D", false, true);
  float* value_cache = args.float32("valueCache", args.product({p.batch, p.kv_heads, p.capacity, p.value_dim}, "B*Hkv*C*Dv"),
                                    "B*Hkv*C*Dv", false, true);
  p.past_lengths = args.int32("pastLengths", p.batch, "B");
  p.new_lengths = args.int32("newLengths", p.batch, "B");
  float* out = args.float32("out", args.product({p.batch, p.heads, p.new_len, p.value_dim}, "B*H*N*Dv"), "B*H*N*Dv",
                            false, true);
  std::vector<int32_t> lengths_scratch(static_cast<size_t>(p.batch));
  int32_t* lengths = args.has("lengths") ? args.int32("lengths", p.batch, "B", true) : lengths_scratch.data();
  args.check_arrays_before_use();
  check_lengths(args, p.batch, p.new_len, p.capacity, p.past_lengths, p.new_lengths);
  throw_on_failure(args, btk_attention_with_kv_cache(&p, q, k, v, key_cache, value_cache, out, lengths));
  return info.Env().Undefined();
}

btk_activation read_decoder_activation(const ArgReader& args) {
  const std::string name = args.string_or("activation", "gelu_tanh");
  if (name == "gelu" || name == "gelu_erf") return BTK_ACTIVATION_GELU_ERF;
  if (name == "gelu_tanh" || name == "gelu_new") return BTK_ACTIVATION_GELU_TANH;
  if (name == "relu") return BTK_ACTIVATION_RELU;
  if (name == "silu") return BTK_ACTIVATION_SILU;
  args.type_error(args.qualified("activation") + " must be 'gelu', 'gelu_tanh', 'relu' or 'silu', got '" + name + "'");
}

using Weights = std::vector<std::unique_ptr<InPlaceWeight>>;

const btk_weight& weight(const ArgReader& args, Weights& kept, const char* name, int64_t in, int64_t out,
                         bool transposed = false, bool optional = false) {
  kept.emplace_back(new InPlaceWeight(args, name, in, out, transposed, optional));
  return kept.back()->get();
}

struct DecoderShape {
  int64_t e, q_width, kv_width, ffn;
};

btk_decoder_layer read_decoder_layer(const ArgReader& layer, const btk_decoder& m, const DecoderShape& s,
                                     bool rms, Weights& kept) {
  btk_decoder_layer l{};
  const int64_t e = s.e;
  l.norm1_gamma = layer.float32("norm1Gamma", e, "E", true);
  l.norm1_beta = rms ? nullptr : layer.float32("norm1Beta", e, "E", true);
  l.norm2_gamma = layer.float32("norm2Gamma", e, "E", true);
  l.norm2_beta = rms ? nullptr : layer.float32("norm2Beta", e, "E", true);
  l.norm1_eps = finite_float(layer, "norm1Eps", 1e-5);
  l.norm2_eps = finite_float(layer, "norm2Eps", 1e-5);
  if (rms && (layer.has("norm1Beta") || layer.has("norm2Beta"))) layer.type_error(layer.qualified(layer.has("norm1Beta") ? "norm1Beta" : "norm2Beta") + ": an RMSNorm has no beta");
  if (layer.has("wqkv")) {
    if (layer.has("wq") || layer.has("wk") || layer.has("wv"))
      layer.type_error("give either " + layer.qualified("wqkv") + " or wq/wk/wv, not both");
    const int64_t width = s.q_width + 2 * s.kv_width;
    l.w_qkv = weight(layer, kept, "wqkv", e, width);
    l.b_qkv = layer.float32("bqkv", width, "(H + 2 Hkv) D", true);
  } else {
    l.w_q = weight(layer, kept, "wq", e, s.q_width);
    l.w_k = weight(layer, kept, "wk", e, s.kv_width);
    l.w_v = weight(layer, kept, "wv", e, s.kv_width);
    l.b_q = layer.float32("bq", s.q_width, "H D", true);
    l.b_k = layer.float32("bk", s.kv_width, "Hkv D", true);
    l.b_v = layer.float32("bv", s.kv_width, "Hkv D", true);
  }
  l.w_o = weight(layer, kept, "wo", s.q_width, e);
  l.b_o = layer.float32("bo", e, "E", true);
  if (m.gated_mlp) {
    l.w_gate = weight(layer, kept, "wgate", e, s.ffn);
    l.b_gate = layer.float32("bgate", s.ffn, "F", true);
  } else if (layer.has("wgate")) {
    layer.type_error(layer.qualified("wgate") + " is given but gatedMlp is false");
  }
  l.w_up = weight(layer, kept, "wup", e, s.ffn);
  l.b_up = layer.float32("bup", s.ffn, "F", true);
  l.w_down = weight(layer, kept, "wdown", s.ffn, e);
  l.b_down = layer.float32("bdown", e, "E", true);
  static const char* const cross_fields[] = {"crossNormGamma", "crossNormBeta", "crossNormEps", "wcq", "bcq", "wck",
                                             "bck", "wcv", "bcv", "wco", "bco"};
  if (!m.cross_attention) {
    for (const char* field : cross_fields)
      if (layer.has(field)) layer.type_error(layer.qualified(field) + " is given but model.crossAttention is false");
    return l;
  }
  l.cross_norm_gamma = layer.float32("crossNormGamma", e, "E", true);
  if (rms && layer.has("crossNormBeta")) layer.type_error(layer.qualified("crossNormBeta") + ": an RMSNorm has no beta");
  l.cross_norm_beta = rms ? nullptr : layer.float32("crossNormBeta", e, "E", true);
  l.cross_norm_eps = finite_float(layer, "crossNormEps", 1e-5);
  l.w_cross_q = weight(layer, kept, "wcq", e, s.q_width);
  l.w_cross_k = weight(layer, kept, "wck", e, s.kv_width);
  l.w_cross_v = weight(layer, kept, "wcv", e, s.kv_width);
  l.w_cross_o = weight(layer, kept, "wco", s.q_width, e);
  l.b_cross_q = layer.float32("bcq", s.q_width, "H D", true);
  l.b_cross_k = layer.float32("bck", s.kv_width, "Hkv D", true);
  l.b_cross_v = layer.float32("bcv", s.kv_width, "Hkv D", true);
  l.b_cross_o = layer.float32("bco", e, "E", true);
  return l;
}

// transformerDecoderStack({model: {...}, inputIds, pastLengths, newLengths, B, N, C, keyCache, valueCache,
//                          logitsRows: 'last' | 'all', logits, lengths,
//                          S?, encoderStates?, sourceMask?, crossKeyCache?, crossValueCache?});
// see kernels/core/README.md. The cross fields are those of a model with crossAttention.
Napi::Value transformer_decoder_stack(const Napi::CallbackInfo& info) {
  ArgReader args(info, "transformerDecoderStack");
  if (!args.get("model").IsObject() || args.get("model").IsArray()) args.type_error("model must be an object");
  const ArgReader model(args, args.get("model").As<Napi::Object>(), "model.");
  btk_decoder m{};
  m.vocab_size = model.dimension("vocabSize");
  m.embed_dim = model.dimension("E");
  m.num_heads = model.dimension("H");
  m.num_kv_heads = model.dimension_or("Hkv", m.num_heads);
  m.head_dim = model.dimension("D");
  if (m.vocab_size == 0 || m.embed_dim == 0 || m.num_heads == 0 || m.num_kv_heads == 0 || m.head_dim == 0)
    model.range_error("model.vocabSize, model.E, model.H, model.Hkv and model.D must be positive");
  if (m.num_heads % m.num_kv_heads != 0) model.range_error("model.H = " + std::to_string(m.num_heads) + " must be a multiple of model.Hkv = " + std::to_string(m.num_kv_heads));
  const std::string norm = model.string_or("normKind", "layer");
  if (norm != "layer" && norm != "rms") model.type_error("model.normKind must be 'layer' or 'rms', got '" + norm + "'");
  m.norm_kind = norm == "rms" ? BTK_NORM_RMS : BTK_NORM_LAYER;
  m.norm_first = model.boolean_or("normFirst", true);
  m.parallel = model.boolean_or("parallel", false);
  m.parallel_shared_norm = model.boolean_or("parallelSharedNorm", false);
  m.activation = read_decoder_activation(model);
  m.gated_mlp = model.boolean_or("gatedMlp", false);
  m.cross_attention = model.boolean_or("crossAttention", false) ? 1 : 0;
  if (m.cross_attention && m.parallel) model.type_error("model.crossAttention cannot be used with model.parallel layers");
  m.attention_scale = finite_float(model, "scale", 1.0 / std::sqrt(static_cast<double>(m.head_dim)));
  m.embedding_scale = finite_float(model, "embeddingScale", 1.0);
  const DecoderShape shape{m.embed_dim, args.product({m.num_heads, m.head_dim}, "H*D"),
                           args.product({m.num_kv_heads, m.head_dim}, "Hkv*D"), model.dimension("F")};
  m.word_embeddings = model.float32("wordEmbeddings", args.product({m.vocab_size, m.embed_dim}, "vocabSize*E"),
                                    "vocabSize*E");
  if (model.has("positionEmbeddings")) {
    int64_t length = 0;
    m.position_embeddings = model.float32_any("positionEmbeddings", &length);
    if (length == 0 || length % m.embed_dim != 0)
      model.range_error("positionEmbeddings has " + std::to_string(length) + " elements, not a positive multiple of E");
    m.position_rows = length / m.embed_dim;
    m.position_offset = model.dimension_or("positionOffset", 0);
  }
  m.rotary = read_rotary(model, m.head_dim, "rotaryDim", "rotaryCos", "rotarySin", "rotaryInterleaved");
  const bool rms = m.norm_kind == BTK_NORM_RMS;
  m.has_final_norm = model.boolean_or("hasFinalNorm", true);
  m.final_norm_gamma = model.float32("finalNormGamma", m.embed_dim, "E", true);
  m.final_norm_beta = rms ? nullptr : model.float32("finalNormBeta", m.embed_dim, "E", true);
  m.final_norm_eps = finite_float(model, "finalNormEps", 1e-5);
  // BART's layernorm_embedding: present when its gamma or beta is, or when hasEmbeddingNorm says so.
  if (rms && model.has("embeddingNormBeta")) model.type_error("model.embeddingNormBeta: an RMSNorm has no beta");
  m.embedding_norm_gamma = model.float32("embeddingNormGamma", m.embed_dim, "E", true);
  m.embedding_norm_beta = model.float32("embeddingNormBeta", m.embed_dim, "E", true);
  m.has_embedding_norm = model.boolean_or("hasEmbeddingNorm", m.embedding_norm_gamma || m.embedding_norm_beta) ? 1 : 0;
  if (!m.has_embedding_norm && (m.embedding_norm_gamma || m.embedding_norm_beta))
    model.type_error("model.embeddingNormGamma/Beta are given but model.hasEmbeddingNorm is false");
  m.embedding_norm_eps = finite_float(model, "embeddingNormEps", 1e-5);
  m.embedding_norm_before_positions = model.boolean_or("embeddingNormBeforePositions", false) ? 1 : 0;
  if (m.embedding_norm_before_positions && !m.has_embedding_norm)
    model.type_error("model.embeddingNormBeforePositions needs an embedding norm (hasEmbeddingNorm)");
  Weights kept;
  m.lm_head = weight(model, kept, "lmHead", m.embed_dim, m.vocab_size, model.boolean_or("lmHeadTransposed", false));
  m.lm_head_bias = model.float32("lmHeadBias", m.vocab_size, "vocabSize", true);
  if (model.has("positionBias")) {  // [H, P]: one score per head and distance
    m.position_bias_rows = model.dimension("positionBiasRows");
    if (m.position_bias_rows == 0) model.range_error("model.positionBiasRows must be positive");
    m.position_bias = model.float32("positionBias", args.product({m.num_heads, m.position_bias_rows}, "H*positionBiasRows"),
                                    "H*positionBiasRows");
  } else if (model.has("positionBiasRows")) {
    model.type_error("model.positionBiasRows is given without model.positionBias");
  }

  if (!model.get("layers").IsArray()) model.type_error("model.layers must be an array of layer objects");
  const Napi::Array list = model.get("layers").As<Napi::Array>();
  const uint32_t count = list.Length();  // read once (a Proxy could grow it)
  if (count > kMaxLayers) model.range_error("layers has more than " + std::to_string(kMaxLayers) + " entries");
  std::vector<btk_decoder_layer> layers;
  for (uint32_t i = 0; i < count; ++i) {
    const Napi::Value entry = list.Get(i);
    const std::string prefix = "model.layers[" + std::to_string(i) + "].";
    if (!entry.IsObject() || entry.IsArray() || entry.IsTypedArray())
      args.type_error("model.layers[" + std::to_string(i) + "] must be an object");
    layers.push_back(read_decoder_layer(ArgReader(args, entry.As<Napi::Object>(), prefix), m, shape, rms, kept));
  }
  m.num_layers = static_cast<int64_t>(layers.size());
  m.layers = layers.data();

  btk_decoder_step step{};
  step.batch = args.dimension("B");
  step.new_len = args.dimension("N");
  step.capacity = args.dimension("C");
  const std::string rows = args.string_or("logitsRows", "last");
  if (rows != "last" && rows != "all") args.type_error("logitsRows must be 'last' or 'all', got '" + rows + "'");
  step.logits_rows = rows == "all" ? BTK_LOGITS_ALL : BTK_LOGITS_LAST;
  step.input_ids = args.int32("inputIds", args.product({step.batch, step.new_len}, "B*N"), "B*N");
  step.past_lengths = args.int32("pastLengths", step.batch, "B");
  step.new_lengths = args.int32("newLengths", step.batch, "B");
  const int64_t cache = args.product({m.num_layers, step.batch, m.num_kv_heads, step.capacity, m.head_dim},
                                     "layers*B*Hkv*C*D");
  step.key_cache = args.float32("keyCache", cache, "layers*B*Hkv*C*D", false, true);
  step.value_cache = args.float32("valueCache", cache, "layers*B*Hkv*C*D", false, true);
  const int64_t logit_rows = step.logits_rows == BTK_LOGITS_ALL ? args.product({step.batch, step.new_len}, "B*N") : step.batch;
  step.logits = args.float32("logits", args.product({logit_rows, m.vocab_size}, "rows*vocabSize"),
                             step.logits_rows == BTK_LOGITS_ALL ? "B*N*vocabSize" : "B*vocabSize", false, true);
  std::vector<int32_t> lengths_scratch(static_cast<size_t>(step.batch));
  step.lengths = args.has("lengths") ? args.int32("lengths", step.batch, "B", true) : lengths_scratch.data();
  if (m.cross_attention) {
    step.source_len = args.dimension("S");
    if (step.batch > 0 && step.source_len == 0) args.range_error("S must be positive: every sequence needs a source token");
    const int64_t cross = args.product({m.num_layers, step.batch, m.num_kv_heads, step.source_len, m.head_dim},
                                       "layers*B*Hkv*S*D");
    step.cross_key_cache = args.float32("crossKeyCache", cross, "layers*B*Hkv*S*D", false, true);
    step.cross_value_cache = args.float32("crossValueCache", cross, "layers*B*Hkv*S*D", false, true);
    step.encoder_states = args.float32("encoderStates", args.product({step.batch, step.source_len, m.embed_dim}, "B*S*E"),
                                       "B*S*E", true);
    if (args.has("sourceMask"))
      step.source_mask = args.int32("sourceMask", args.product({step.batch, step.source_len}, "B*S"), "B*S");
  } else {
    for (const char* field : {"S", "encoderStates", "sourceMask", "crossKeyCache", "crossValueCache"})
      if (args.has(field)) args.type_error(std::string(field) + " is given but model.crossAttention is false");
  }
  args.check_arrays_before_use();
  for (const auto& w : kept) w->check_still_valid(args);
  for (int64_t b = 0; step.source_mask && b < step.batch; ++b) {
    bool any = false;
    for (int64_t i = 0; i < step.source_len && !any; ++i) any = step.source_mask[b * step.source_len + i] != 0;
    if (!any) args.range_error("sourceMask row " + std::to_string(b) + " has no real source token (all zeros)");
  }
  check_lengths(args, step.batch, step.new_len, step.capacity, step.past_lengths, step.new_lengths);
  for (int64_t b = 0; b < step.batch; ++b) {
    for (int64_t i = 0; i < step.new_lengths[b]; ++i) {
      const int32_t id = step.input_ids[b * step.new_len + i];
      if (id < 0 || id >= m.vocab_size)
        args.range_error("inputIds[" + std::to_string(b) + ", " + std::to_string(i) + "] = " + std::to_string(id) +
                         " is outside the vocabulary [0, " + std::to_string(m.vocab_size) + ")");
    }
    const int64_t last = static_cast<int64_t>(step.past_lengths[b]) + step.new_lengths[b];  // positions < last
    if (step.new_lengths[b] > 0 && m.position_embeddings && last + m.position_offset > m.position_rows)
      args.range_error("position " + std::to_string(last - 1) + " of sequence " + std::to_string(b) +
                       " is past the " + std::to_string(m.position_rows - m.position_offset) + " learned positions");
    if (step.new_lengths[b] > 0 && m.rotary.rotary_dim > 0 && last > m.rotary.table_rows)
      args.range_error("position " + std::to_string(last - 1) + " of sequence " + std::to_string(b) +
                       " is past the rotary tables' " + std::to_string(m.rotary.table_rows) + " rows");
    if (step.new_lengths[b] > 0 && m.position_bias && last > m.position_bias_rows)
      args.range_error("position " + std::to_string(last - 1) + " of sequence " + std::to_string(b) +
                       " is past model.positionBias's " + std::to_string(m.position_bias_rows) + " distances");
  }
  throw_on_failure(args, btk_transformer_decoder_stack(&m, &step));
  return info.Env().Undefined();
}

// reorderCache({keyCache, valueCache, lengths, sourceRows, layers, B, Hkv, C, D}): beam search's row
// reorder, in place: new row b = old row sourceRows[b], lengths[b] = old lengths[sourceRows[b]].
Napi::Value reorder_cache(const Napi::CallbackInfo& info) {
  ArgReader args(info, "reorderCache");
  const int64_t layers = args.dimension("layers"), batch = args.dimension("B"), kv_heads = args.dimension("Hkv"),
                capacity = args.dimension("C"), d = args.dimension("D");
  const int64_t cache = args.product({layers, batch, kv_heads, capacity, d}, "layers*B*Hkv*C*D");
  float* key_cache = args.float32("keyCache", cache, "layers*B*Hkv*C*D", false, true);
  float* value_cache = args.float32("valueCache", cache, "layers*B*Hkv*C*D", false, true);
  int32_t* lengths = args.int32("lengths", batch, "B", true);
  const int32_t* source_rows = args.int32("sourceRows", batch, "B");
  args.check_arrays_before_use();
  for (int64_t b = 0; b < batch; ++b) {
    const std::string at = "[" + std::to_string(b) + "] = ";
    if (source_rows[b] < 0 || source_rows[b] >= batch)
      args.range_error("sourceRows" + at + std::to_string(source_rows[b]) + " is outside [0, B = " +
                       std::to_string(batch) + ")");
    if (lengths[b] < 0 || lengths[b] > capacity)
      args.range_error("lengths" + at + std::to_string(lengths[b]) + " is outside [0, C = " + std::to_string(capacity) +
                       "]");
  }
  throw_on_failure(args, btk_reorder_cache(key_cache, value_cache, lengths, source_rows, layers, batch, kv_heads,
                                           capacity, d));
  return info.Env().Undefined();
}

}  // namespace

void register_decoder_functions(Napi::Env env, Napi::Object exports) {
  exports.Set("packWeightBf16", Napi::Function::New(env, pack_weight_bf16, "packWeightBf16"));
  exports.Set("rmsNorm", Napi::Function::New(env, rms_norm, "rmsNorm"));
  exports.Set("rotaryEmbedding", Napi::Function::New(env, rotary_embedding, "rotaryEmbedding"));
  exports.Set("attentionWithKVCache", Napi::Function::New(env, attention_with_kv_cache, "attentionWithKVCache"));
  exports.Set("transformerDecoderStack", Napi::Function::New(env, transformer_decoder_stack, "transformerDecoderStack"));
  exports.Set("reorderCache", Napi::Function::New(env, reorder_cache, "reorderCache"));
}

}  // namespace btk_addon
