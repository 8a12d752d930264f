// The C ABI (kernels/include/bt_cuda.h): argument validation, device checks,
// then dispatch. Validation needs no GPU; every failure returns a status with
// a message. The checks shared with the CPU front ends (attention and encoder
// sizes, mask extents, overflow-checked counts) are kernels/shared/problem_checks.h;
// the decoding ops' value checks (cache lengths, token ids, positions) are
// shared with the TensorFlow op library through
// kernels/bindings/tensorflow/decoder_checks.h.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include <cublasLt.h>
#include <cuda_runtime.h>

#include "../bindings/tensorflow/decoder_checks.h"
#include "../shared/problem_checks.h"
#include "attention_bwd_bf16.h"
#include "attention_fwd_bf16.h"
#include "attention_params.h"
#include "bt_cuda.h"
#include "decoder_kernels.h"
#include "decoder_stack.h"
#include "encoder_kernels.h"
#include "encoder_layer.h"
#include "gemm_lt.h"

struct bt_cuda_context {
  int device = 0;
  cudaStream_t stream = nullptr;
  btc::GemmLt lt;
};

namespace {

constexpr size_t kLtWorkspaceBytes = 32u << 20;

thread_local std::string g_last_error;

int Fail(int status, const std::string& message) {
  g_last_error = message;
  return status;
}

int CudaFail(cudaError_t err, const char* what) {
  (void)cudaGetLastError();  // clear a sticky launch error so the next call starts clean
  if (err == cudaErrorNoDevice || err == cudaErrorInsufficientDriver) {
    return Fail(BT_CUDA_NO_DEVICE, std::string("no CUDA device: ") + cudaGetErrorString(err));
  }
  return Fail(BT_CUDA_RUNTIME_ERROR, std::string(what) + ": " + cudaGetErrorString(err));
}

// A usable device exists (no driver or no GPU gives BT_CUDA_NO_DEVICE).
int RequireDevice() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) return CudaFail(err, "cudaGetDeviceCount");
  if (count == 0) return Fail(BT_CUDA_NO_DEVICE, "no CUDA device");
  return BT_CUDA_OK;
}

// The pointer is device (or managed) memory: host pointers are refused, not dereferenced by a kernel.
int RequireDevicePointer(const void* ptr, const char* name) {
  if (!ptr) return BT_CUDA_OK;
  cudaPointerAttributes attr{};
  const cudaError_t err = cudaPointerGetAttributes(&attr, ptr);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return Fail(BT_CUDA_INVALID_ARGUMENT, std::string(name) + " is not a CUDA pointer");
  }
  if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged) {
    return Fail(BT_CUDA_INVALID_ARGUMENT, std::string(name) + " is not device memory");
  }
  return BT_CUDA_OK;
}

// The encoder's padding mask is read on the host: refuse device memory (reading it would crash).
// Without a device no pointer can be device memory, so nothing is asked of the runtime then.
int RequireHostPointer(const void* ptr, const char* name) {
  int count = 0;
  if (!ptr || cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    (void)cudaGetLastError();
    return BT_CUDA_OK;
  }
  cudaPointerAttributes attr{};
  if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
    (void)cudaGetLastError();
    return BT_CUDA_OK;  // unknown to CUDA: ordinary host memory
  }
  if (attr.type == cudaMemoryTypeDevice) {
    g_last_error = std::string(name) + " must be host memory";
    return BT_CUDA_INVALID_ARGUMENT;
  }
  return BT_CUDA_OK;
}

#define BT_RETURN_IF(status_expr)          \
  do {                                     \
    const int bt_status_ = (status_expr);  \
    if (bt_status_ != BT_CUDA_OK) return bt_status_; \
  } while (0)

int Invalid(const std::string& m) { return Fail(BT_CUDA_INVALID_ARGUMENT, m); }

// A shared check's message as an INVALID_ARGUMENT status (OK when it is empty).
int InvalidIf(const std::string& message) { return message.empty() ? BT_CUDA_OK : Invalid(message); }

// An element count of validated (non-negative) sizes; callers check it fits first (CountFits).
int64_t Product(std::initializer_list<int64_t> dims) {
  int64_t n = 0;
  return bt_checks::CheckedProduct(dims, &n) ? n : INT64_MAX;
}

// The product of the sizes fits in int64 and is at most `limit`.
bool CountFits(std::initializer_list<int64_t> dims, int64_t limit) {
  int64_t n = 0;
  return bt_checks::CheckedProduct(dims, &n) && n <= limit;
}

int64_t MaskExtent(const bt_cuda_attention& a) {
  const int64_t sizes[4] = {a.batch, a.heads, a.q_seq, a.k_seq};
  int64_t extent = 0;
  bt_checks::MaskExtent(sizes, a.mask_strides, &extent);  // validated by ValidateAttention
  return extent;
}

int ValidatePrecision(int32_t precision) {
  if (precision != BT_CUDA_PRECISION_HIGHEST && precision != BT_CUDA_PRECISION_HIGH &&
      precision != BT_CUDA_PRECISION_MEDIUM) {
    return Invalid("precision must be 0 (highest), 1 (high) or 2 (medium)");
  }
  return BT_CUDA_OK;
}

int ValidateAttention(const bt_cuda_attention* a) {
  if (!a) return Invalid("attention arguments are null");
  const bt_checks::AttentionDims dims{a->batch, a->heads, a->kv_heads, a->q_seq, a->k_seq, a->depth, a->value_depth};
  BT_RETURN_IF(InvalidIf(bt_checks::AttentionDimsError(dims, /*require_heads_and_depth=*/true)));
  BT_RETURN_IF(ValidatePrecision(a->precision));
  if (a->mask_kind < BT_CUDA_MASK_NONE || a->mask_kind > BT_CUDA_MASK_ADDITIVE) {
    return Invalid("mask_kind must be 0 (none), 1 (bool) or 2 (additive)");
  }
  // Grid limits: B*H blocks in x (int), query (forward) or key (backward) blocks of 32 rows in y. Every
  // element count below is then far from overflowing (D, Dv <= 128).
  if (!CountFits({a->batch, a->heads}, INT_MAX) || a->q_seq > 65535LL * 32 || a->k_seq > 65535LL * 32) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' grid limits");
  }
  if (a->depth > BT_CUDA_MAX_HEAD_DEPTH || a->value_depth > BT_CUDA_MAX_HEAD_DEPTH) {
    return Fail(BT_CUDA_UNSUPPORTED, "the GPU attention kernels take depth and value_depth up to 128");
  }
  const bool rows = Product({a->batch, a->heads, a->q_seq}) > 0;
  if (rows && !a->q) return Invalid("q is null");
  if (rows && a->k_seq > 0 && (!a->k || !a->v)) return Invalid("k or v is null");
  if (rows && a->value_depth > 0 && !a->out) return Invalid("out is null");
  if (a->mask_kind != BT_CUDA_MASK_NONE) {
    if (!a->mask) return Invalid("mask is null but mask_kind is not none");
    const int64_t sizes[4] = {a->batch, a->heads, a->q_seq, a->k_seq};
    int64_t extent = 0;
    BT_RETURN_IF(InvalidIf(bt_checks::MaskExtent(sizes, a->mask_strides, &extent)));
  }
  return BT_CUDA_OK;
}

int CheckAttentionPointers(const bt_cuda_attention& a) {
  BT_RETURN_IF(RequireDevicePointer(a.q, "q"));
  BT_RETURN_IF(RequireDevicePointer(a.k, "k"));
  BT_RETURN_IF(RequireDevicePointer(a.v, "v"));
  BT_RETURN_IF(RequireDevicePointer(a.out, "out"));
  BT_RETURN_IF(RequireDevicePointer(a.lse, "lse"));
  BT_RETURN_IF(RequireDevicePointer(a.mask_kind != BT_CUDA_MASK_NONE ? a.mask : nullptr, "mask"));
  BT_RETURN_IF(RequireDevicePointer(a.key_valid, "key_valid"));
  BT_RETURN_IF(RequireDevicePointer(a.key_limit, "key_limit"));
  return BT_CUDA_OK;
}

btc::AttentionParams ToParams(const bt_cuda_attention& a) {
  btc::AttentionParams p{};
  p.batch = static_cast<int>(a.batch);
  p.heads = static_cast<int>(a.heads);
  p.kv_heads = static_cast<int>(a.kv_heads);
  p.q_seq = static_cast<int>(a.q_seq);
  p.k_seq = static_cast<int>(a.k_seq);
  p.depth = static_cast<int>(a.depth);
  p.value_depth = static_cast<int>(a.value_depth);
  p.scale = a.scale;
  p.causal = a.is_causal != 0;
  p.q = a.q; p.k = a.k; p.v = a.v; p.out = a.out; p.lse = a.lse;
  p.q_ss = a.depth; p.q_sh = a.q_seq * a.depth; p.q_sb = a.heads * p.q_sh;
  p.k_ss = a.depth; p.k_sh = a.k_seq * a.depth; p.k_sb = a.kv_heads * p.k_sh;
  p.v_ss = a.value_depth; p.v_sh = a.k_seq * a.value_depth; p.v_sb = a.kv_heads * p.v_sh;
  p.o_ss = a.value_depth; p.o_sh = a.q_seq * a.value_depth; p.o_sb = a.heads * p.o_sh;
  p.mask_kind = a.mask_kind;
  p.mask = a.mask_kind != BT_CUDA_MASK_NONE ? a.mask : nullptr;
  for (int i = 0; i < 4; ++i) p.mask_strides[i] = a.mask_strides[i];
  p.key_valid = a.key_valid;
  p.key_limit = a.key_limit;
  return p;
}

// Makes ctx's device current on this thread and picks the stream.
int Enter(bt_cuda_context* ctx, void* stream, cudaStream_t* out) {
  if (!ctx) return Invalid("context is null");
  const cudaError_t err = cudaSetDevice(ctx->device);
  if (err != cudaSuccess) return CudaFail(err, "cudaSetDevice");
  *out = stream ? static_cast<cudaStream_t>(stream) : ctx->stream;
  return BT_CUDA_OK;
}

size_t DeltaBytes(const bt_cuda_attention& a) {
  return static_cast<size_t>(Product({a.batch, a.heads, a.q_seq})) * sizeof(float);
}

// The gradient's workspace: delta (B·H·Sq floats), then at 'medium' the bf16 copies of q, dout, k
// and v, 256-byte aligned.
size_t DeltaBytesAligned(const bt_cuda_attention& a) { return (DeltaBytes(a) + 255) / 256 * 256; }

// Token rows (B*S) the encoder's row kernels and tables index with int, the attention grid's limits,
// and buffers (B*S*3E and B*S*F floats) whose sizes in bytes fit in int64.
bool EncoderSizesFit(int64_t batch, int64_t seq, int64_t num_heads, int64_t embed, int64_t ffn) {
  constexpr int64_t kMaxFloats = INT64_MAX / 16;
  return CountFits({batch, seq}, INT_MAX / 4) && seq <= 65535LL * 32 && CountFits({batch, num_heads}, INT_MAX) &&
         CountFits({batch, seq, embed, 3}, kMaxFloats) && CountFits({batch, seq, ffn}, kMaxFloats);
}

int ValidateEncoder(const bt_cuda_encoder* e) {
  if (!e) return Invalid("encoder arguments are null");
  if (e->batch < 0 || e->seq < 0) return Invalid("batch and seq must be non-negative");
  BT_RETURN_IF(InvalidIf(bt_checks::EmbedDimError(e->embed)));
  BT_RETURN_IF(InvalidIf(bt_checks::HeadCountError(e->embed, e->num_heads, "num_heads")));
  if (e->ffn < 1) return Invalid("ffn (" + std::to_string(e->ffn) + ") must be at least 1");
  if (e->embed / e->num_heads > BT_CUDA_MAX_HEAD_DEPTH) {
    return Fail(BT_CUDA_UNSUPPORTED, "the GPU encoder layer takes head depth (embed / num_heads) up to 128");
  }
  if (!EncoderSizesFit(e->batch, e->seq, e->num_heads, e->embed, e->ffn)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  BT_RETURN_IF(ValidatePrecision(e->precision));
  if (e->activation < BT_CUDA_GELU || e->activation > BT_CUDA_RELU) {
    return Invalid("activation must be 0 (gelu), 1 (gelu_tanh) or 2 (relu)");
  }
  if (!(e->eps1 >= 0.f) || !(e->eps2 >= 0.f)) return Invalid("eps1 and eps2 must be non-negative");
  if (e->batch * e->seq == 0) return BT_CUDA_OK;
  if (!e->x || !e->y) return Invalid("x or y is null");
  if (!e->qkv_weight) {
    if (!e->q_weight || !e->k_weight || !e->v_weight || !e->q_bias || !e->k_bias || !e->v_bias) {
      return Invalid("either qkv_weight and qkv_bias or all of q/k/v weights and biases are required");
    }
  } else if (!e->qkv_bias) {
    return Invalid("qkv_bias is null");
  }
  const float* required[] = {e->out_weight, e->out_bias, e->ln1_gamma, e->ln1_beta, e->ln2_gamma,
                             e->ln2_beta, e->ffn_in_weight, e->ffn_in_bias, e->ffn_out_weight, e->ffn_out_bias};
  for (const float* p : required) {
    if (!p) return Invalid("a weight of the layer is null (out, ln1, ln2, ffn_in, ffn_out weights and biases)");
  }
  return BT_CUDA_OK;
}

int CheckEncoderPointers(const bt_cuda_encoder& e) {
  const float* ptrs[] = {e.x, e.qkv_weight, e.qkv_bias, e.q_weight, e.k_weight, e.v_weight, e.q_bias, e.k_bias,
                         e.v_bias, e.out_weight, e.out_bias, e.ln1_gamma, e.ln1_beta, e.ln2_gamma, e.ln2_beta,
                         e.ffn_in_weight, e.ffn_in_bias, e.ffn_out_weight, e.ffn_out_bias, e.y};
  for (const float* p : ptrs) BT_RETURN_IF(RequireDevicePointer(p, "an encoder tensor"));
  return BT_CUDA_OK;
}


// ---- encoder stack ----
// The layers run one after another through the layer code, each reading the
// previous one's output from the workspace. Padding rows come out of every
// layer as exact zeros and every layer skips them, so chaining layers gives the
// stack's result; each layer packs and unpacks its tokens itself.

// Layer l of a stack as the layer entry point sees it.
bt_cuda_encoder StackLayer(const bt_cuda_encoder_stack& s, int64_t l, const float* x, float* y) {
  bt_cuda_encoder e = s.layers[l];
  e.x = x;
  e.y = y;
  e.key_valid_host = s.key_valid_host;
  return e;
}

int ValidateEncoderStack(const bt_cuda_encoder_stack* s) {
  if (!s) return Invalid("encoder stack arguments are null");
  if (s->batch < 0 || s->seq < 0) return Invalid("batch and seq must be non-negative");
  BT_RETURN_IF(InvalidIf(bt_checks::EmbedDimError(s->embed)));
  if (s->num_layers < 0) return Invalid("num_layers must be non-negative");
  if (s->num_layers > 0 && !s->layers) return Invalid("layers is null");
  if (!EncoderSizesFit(s->batch, s->seq, 1, s->embed, 1)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  if (s->batch * s->seq > 0 && (!s->x || !s->y)) return Invalid("x or y is null");
  for (int64_t l = 0; l < s->num_layers; ++l) {
    const bt_cuda_encoder& layer = s->layers[l];
    const std::string at = "layers[" + std::to_string(l) + "]: ";
    if (layer.batch != s->batch || layer.seq != s->seq || layer.embed != s->embed) {
      return Invalid(at + "batch, seq and embed must be the stack's");
    }
    if (layer.x || layer.y || layer.key_valid_host) {
      return Invalid(at + "x, y and key_valid_host must be null (the stack's are used)");
    }
    const bt_cuda_encoder e = StackLayer(*s, l, s->x, s->y);
    const int status = ValidateEncoder(&e);
    if (status != BT_CUDA_OK) return Fail(status, at + g_last_error);
  }
  return BT_CUDA_OK;
}

// The workspace in order: one layer's workspace (the largest any layer needs), then the
// activations between layers ([B, S, E] each: one for two layers, two from three on, used in
// turn), then, for a stack without layers over a padded batch, the row table that copies x.
struct StackWorkspace {
  size_t layer_bytes = 0, activation_bytes = 0, activations = 0, table_bytes = 0;
  size_t Total() const { return layer_bytes + activations * activation_bytes + table_bytes; }
};

size_t AlignUp256(size_t n) { return (n + 255) / 256 * 256; }

StackWorkspace PlanStackWorkspace(const bt_cuda_encoder_stack& s, const btc::EncoderPlan& plan) {
  StackWorkspace w;
  for (int64_t l = 0; l < s.num_layers; ++l) {
    w.layer_bytes = std::max(w.layer_bytes, AlignUp256(btc::EncoderWorkspaceBytes(StackLayer(s, l, s.x, s.y), plan)));
  }
  w.activation_bytes = AlignUp256(static_cast<size_t>(s.batch * s.seq * s.embed) * sizeof(float));
  w.activations = s.num_layers >= 3 ? 2 : s.num_layers == 2 ? 1 : 0;
  if (s.num_layers == 0 && plan.padded) {
    w.table_bytes = AlignUp256(static_cast<size_t>(s.batch * s.seq) * sizeof(int));
  }
  return w;
}

// The token bookkeeping of the stack's batch and padding (the same for every layer).
btc::EncoderPlan PlanStack(const bt_cuda_encoder_stack& s) {
  bt_cuda_encoder e{};
  e.batch = s.batch;
  e.seq = s.seq;
  e.embed = s.embed;
  e.key_valid_host = s.key_valid_host;
  return btc::PlanEncoder(e);
}

// No layers: y = x with padding rows zeroed (a device copy, or an unpack through a row table).
int CopyRealRows(const bt_cuda_encoder_stack& s, const btc::EncoderPlan& plan, char* table_memory,
                 cudaStream_t stream) {
  const int64_t rows = s.batch * s.seq;
  cudaError_t err = cudaSuccess;
  if (!plan.padded) {
    err = cudaMemcpyAsync(s.y, s.x, static_cast<size_t>(rows * s.embed) * sizeof(float), cudaMemcpyDeviceToDevice,
                          stream);
    return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "copying x");
  }
  std::vector<int> row_table(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) row_table[static_cast<size_t>(r)] = s.key_valid_host[r] ? static_cast<int>(r) : -1;
  int* table = reinterpret_cast<int*>(table_memory);
  // Pageable source: staged before cudaMemcpyAsync returns, so the vector may go out of scope.
  err = cudaMemcpyAsync(table, row_table.data(), row_table.size() * sizeof(int), cudaMemcpyHostToDevice, stream);
  if (err == cudaSuccess) err = btc::LaunchUnpackRows(s.x, table, s.y, rows, static_cast<int>(s.embed), stream);
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "copying the real rows of x");
}

// ---- decoding ----

bool FiniteNonNegative(float v) { return std::isfinite(v) && v >= 0.f; }

int CheckHostPointers(std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& p : pointers) BT_RETURN_IF(RequireHostPointer(p.first, p.second));
  return BT_CUDA_OK;
}

int CheckDevicePointers(std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& p : pointers) BT_RETURN_IF(RequireDevicePointer(p.first, p.second));
  return BT_CUDA_OK;
}

int ValidateRmsNorm(const bt_cuda_rms_norm_args* a) {
  if (!a) return Invalid("rms norm arguments are null");
  if (a->rows < 0 || a->width < 0) return Invalid("rows and width must be non-negative");
  if (!FiniteNonNegative(a->eps)) return Invalid("eps must be finite and non-negative");
  if (a->width > INT_MAX || !CountFits({a->rows, a->width}, INT64_MAX / 8) || a->rows / 8 >= INT_MAX) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  if (a->rows * a->width > 0 && (!a->x || !a->y)) return Invalid("x or y is null");
  return BT_CUDA_OK;
}

int ValidateRotary(const bt_cuda_rotary_args* a) {
  if (!a) return Invalid("rotary arguments are null");
  if (a->batch < 0 || a->heads < 0 || a->seq < 0 || a->head_dim < 0) {
    return Invalid("batch, heads, seq and head_dim must be non-negative");
  }
  BT_RETURN_IF(InvalidIf(bt_checks::RotaryDimError(a->rotary_dim, a->head_dim)));
  if (!CountFits({a->batch, a->heads, a->seq}, INT_MAX) || !CountFits({a->batch, a->seq}, INT_MAX) ||
      a->head_dim > INT_MAX || !CountFits({a->batch, a->heads, a->seq, a->head_dim}, INT64_MAX / 8)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  const int64_t elements = a->batch * a->heads * a->seq * a->head_dim;
  if (elements > 0 && (!a->x || !a->y)) return Invalid("x or y is null");
  if (a->rotary_dim > 0) {
    if (a->table_rows < 1 || !a->cos || !a->sin) return Invalid("cos and sin need at least one row");
    if (elements > 0) {
      if (!a->positions_host) return Invalid("positions_host is null");
      BT_RETURN_IF(InvalidIf(bt_checks::RotaryPositionsError(a->batch * a->seq, a->positions_host, a->table_rows)));
    }
  }
  return CheckHostPointers({{a->positions_host, "positions_host"}});
}

// Grid and index limits shared by the cache attention of both ops: per-sequence lengths and
// positions are int, the append and decode grids index B·Hkv·rows blocks, the tiled kernels
// B·H blocks by query tiles of 32.
bool CacheAttentionFits(int64_t batch, int64_t heads, int64_t kv_heads, int64_t new_len, int64_t capacity) {
  return capacity <= INT_MAX / 2 && new_len <= 65535LL * 32 && CountFits({batch, heads}, INT_MAX) &&
         CountFits({batch, kv_heads, new_len}, INT_MAX) &&
         CountFits({batch, kv_heads, btc::DecodeRowChunks(heads, kv_heads, new_len)}, INT_MAX) &&
         CountFits({batch, heads, new_len, 130}, INT64_MAX / 256);
}

int ValidateKvCache(const bt_cuda_kv_cache* a) {
  if (!a) return Invalid("kv cache arguments are null");
  const bt_checks::AttentionDims dims{a->batch, a->heads, a->kv_heads, a->new_len, a->capacity, a->head_dim,
                                      a->value_dim};
  BT_RETURN_IF(InvalidIf(bt_checks::AttentionDimsError(dims, /*require_heads_and_depth=*/true)));
  BT_RETURN_IF(ValidatePrecision(a->precision));
  if (!std::isfinite(a->scale)) return Invalid("scale must be finite");
  if (a->head_dim > BT_CUDA_MAX_HEAD_DEPTH || a->value_dim > BT_CUDA_MAX_HEAD_DEPTH) {
    return Fail(BT_CUDA_UNSUPPORTED, "the GPU attention kernels take head_dim and value_dim up to 128");
  }
  if (!CacheAttentionFits(a->batch, a->heads, a->kv_heads, a->new_len, a->capacity) ||
      !CountFits({a->batch, a->kv_heads, a->capacity, 128}, INT64_MAX / 8)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  if (a->batch > 0 && (!a->past_lengths_host || !a->new_lengths_host)) {
    return Invalid("past_lengths_host and new_lengths_host are required");
  }
  BT_RETURN_IF(CheckHostPointers({{a->past_lengths_host, "past_lengths_host"},
                                  {a->new_lengths_host, "new_lengths_host"},
                                  {a->lengths_host, "lengths_host"}}));
  BT_RETURN_IF(InvalidIf(bt_checks::CacheLengthsError(a->batch, a->new_len, a->capacity, a->past_lengths_host,
                                                      a->new_lengths_host)));
  const bool rows = a->batch * a->heads * a->new_len > 0, keys = a->batch * a->kv_heads * a->capacity > 0;
  if (rows && (!a->q || !a->out)) return Invalid("q or out is null");
  if (a->batch * a->kv_heads * a->new_len > 0 && (!a->k || !a->v)) return Invalid("k or v is null");
  if (keys && (!a->key_cache || !a->value_cache)) return Invalid("key_cache or value_cache is null");
  if (keys && static_cast<const void*>(a->key_cache) == static_cast<const void*>(a->value_cache)) {
    return Invalid("key_cache and value_cache are the same buffer");
  }
  return BT_CUDA_OK;
}

int CheckKvCachePointers(const bt_cuda_kv_cache& a) {
  return CheckDevicePointers({{a.q, "q"}, {a.k, "k"}, {a.v, "v"}, {a.key_cache, "key_cache"},
                              {a.value_cache, "value_cache"}, {a.out, "out"}});
}

void WriteLengths(int32_t* lengths, int64_t batch, const int32_t* past, const int32_t* fresh) {
  for (int64_t b = 0; lengths && b < batch; ++b) lengths[b] = past[b] + fresh[b];
}

int ValidateDecoderLayer(const bt_cuda_decoder& m, const bt_cuda_decoder_layer& l) {
  if (!FiniteNonNegative(l.norm1_eps) || !FiniteNonNegative(l.norm2_eps)) {
    return Invalid("norm1_eps and norm2_eps must be finite and non-negative");
  }
  if (l.qkv_weight) {
    if (l.q_weight || l.k_weight || l.v_weight) return Invalid("give qkv_weight or q/k/v weights, not both");
  } else if (!l.q_weight || !l.k_weight || !l.v_weight) {
    return Invalid("qkv_weight, or q_weight, k_weight and v_weight, are required");
  }
  if (!l.out_weight || !l.up_weight || !l.down_weight) return Invalid("out_weight, up_weight and down_weight are required");
  if (m.gated_mlp ? !l.gate_weight : l.gate_weight != nullptr) {
    return Invalid(m.gated_mlp ? "gate_weight is required by a gated MLP" : "gate_weight is given but gated_mlp is 0");
  }
  if (!m.cross_attention) {
    for (const void* p : {static_cast<const void*>(l.cross_norm_gamma), static_cast<const void*>(l.cross_norm_beta),
                          static_cast<const void*>(l.cross_q_weight), static_cast<const void*>(l.cross_q_bias),
                          static_cast<const void*>(l.cross_k_weight), static_cast<const void*>(l.cross_k_bias),
                          static_cast<const void*>(l.cross_v_weight), static_cast<const void*>(l.cross_v_bias),
                          static_cast<const void*>(l.cross_out_weight), static_cast<const void*>(l.cross_out_bias)}) {
      if (p) return Invalid("cross-attention weights are given but cross_attention is 0");
    }
    return BT_CUDA_OK;
  }
  if (!l.cross_q_weight || !l.cross_k_weight || !l.cross_v_weight || !l.cross_out_weight) {
    return Invalid("cross_attention needs cross_q_weight, cross_k_weight, cross_v_weight and cross_out_weight");
  }
  if (!FiniteNonNegative(l.cross_norm_eps)) return Invalid("cross_norm_eps must be finite and non-negative");
  return BT_CUDA_OK;
}

// The encoder-decoder fields of a model and a step (cross-attention, the source side, the position
// bias, the embedding norm): the rules of btk_transformer_decoder_stack and of the TensorFlow op's
// host checks. Sizes first; host values (source mask, positions) once they are known to be readable.
int ValidateDecoderEncoderSide(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, int64_t max_floats) {
  if (m.cross_attention && m.parallel) return Invalid("cross_attention cannot be used with parallel layers");
  if (m.embedding_norm_before_positions && !m.has_embedding_norm) {
    return Invalid("embedding_norm_before_positions needs has_embedding_norm");
  }
  if (m.has_embedding_norm) {
    if (!FiniteNonNegative(m.embedding_norm_eps)) return Invalid("embedding_norm_eps must be finite and non-negative");
  } else if (m.embedding_norm_gamma || m.embedding_norm_beta) {
    return Invalid("embedding_norm_gamma or embedding_norm_beta is given but has_embedding_norm is 0");
  }
  if (m.position_bias ? m.position_bias_rows < 1 : m.position_bias_rows != 0) {
    return Invalid(m.position_bias ? "position_bias needs position_bias_rows >= 1"
                                   : "position_bias_rows is set but position_bias is null");
  }
  if (!CountFits({m.num_heads, m.position_bias_rows}, max_floats)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  if (!m.cross_attention) {
    if (s.source_len != 0 || s.encoder_states || s.source_mask_host || s.cross_key_cache || s.cross_value_cache) {
      return Invalid("source_len, encoder_states, source_mask_host and the cross caches need cross_attention");
    }
    return BT_CUDA_OK;
  }
  if (s.source_len < 0) return Invalid("source_len must be non-negative");
  if (s.batch > 0 && s.source_len < 1) return Invalid("cross_attention needs source_len >= 1 source rows");
  // The source rows are keys of the cache attention (int lengths, grids over B x S rows); the
  // encoder states' products [B * S, Hkv D] live in the workspace.
  if (!CacheAttentionFits(s.batch, m.num_heads, m.num_kv_heads, s.new_len, s.source_len) ||
      !CountFits({s.batch, s.source_len}, INT_MAX) ||
      !CountFits({s.batch, s.source_len, m.embed_dim + m.num_kv_heads * m.head_dim}, max_floats) ||
      !CountFits({m.num_layers, s.batch, m.num_kv_heads, s.source_len, m.head_dim}, max_floats)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  const bool cross_caches = m.num_layers * s.batch * m.num_kv_heads * s.source_len > 0;
  if (cross_caches && (!s.cross_key_cache || !s.cross_value_cache)) {
    return Invalid("cross_key_cache or cross_value_cache is null");
  }
  if (cross_caches && s.cross_key_cache == s.cross_value_cache) {
    return Invalid("cross_key_cache and cross_value_cache are the same buffer");
  }
  if (s.batch * s.source_len > 0 && s.source_mask_host) {
    BT_RETURN_IF(CheckHostPointers({{s.source_mask_host, "source_mask_host"}}));
    BT_RETURN_IF(InvalidIf(bt_checks::SourceMaskError(s.batch, s.source_len, s.source_mask_host)));
  }
  return BT_CUDA_OK;
}

int ValidateDecoder(const bt_cuda_decoder* m, const bt_cuda_decoder_step* s) {
  if (!m || !s) return Invalid("decoder arguments are null");
  if (m->num_layers < 0 || m->num_layers > 65536) return Invalid("num_layers must be in [0, 65536]");
  if (m->vocab_size < 1 || m->embed_dim < 1) return Invalid("vocab_size and embed_dim must be at least 1");
  BT_RETURN_IF(InvalidIf(bt_checks::DecoderHeadsError(m->num_heads, m->num_kv_heads, m->head_dim)));
  if (m->num_layers > 0 && m->ffn_dim < 1) return Invalid("ffn_dim must be at least 1");
  if (m->head_dim > BT_CUDA_MAX_HEAD_DEPTH) {
    return Fail(BT_CUDA_UNSUPPORTED, "the GPU attention kernels take head_dim up to 128");
  }
  if (m->norm_kind != BT_CUDA_NORM_LAYER && m->norm_kind != BT_CUDA_NORM_RMS) {
    return Invalid("norm_kind must be 0 (layer) or 1 (rms)");
  }
  if (m->activation < BT_CUDA_GELU || m->activation > BT_CUDA_SILU) {
    return Invalid("activation must be 0 (gelu), 1 (gelu_tanh), 2 (relu) or 3 (silu)");
  }
  BT_RETURN_IF(ValidatePrecision(m->precision));
  if (!std::isfinite(m->attention_scale) || !std::isfinite(m->embedding_scale)) {
    return Invalid("attention_scale and embedding_scale must be finite");
  }
  if (!FiniteNonNegative(m->final_norm_eps)) return Invalid("final_norm_eps must be finite and non-negative");
  if (!m->word_embeddings || !m->lm_head) return Invalid("word_embeddings and lm_head are required");
  if (m->position_embeddings && (m->position_rows < 1 || m->position_offset < 0)) {
    return Invalid("position_embeddings need position_rows >= 1 and position_offset >= 0");
  }
  BT_RETURN_IF(InvalidIf(bt_checks::RotaryDimError(m->rotary_dim, m->head_dim)));
  if (m->rotary_dim > 0 && (!m->rotary_cos || !m->rotary_sin || m->rotary_rows < 1)) {
    return Invalid("rotary_cos and rotary_sin need at least one row");
  }
  if (m->num_layers > 0 && !m->layers) return Invalid("layers is null");
  for (int64_t l = 0; l < m->num_layers; ++l) {
    const int status = ValidateDecoderLayer(*m, m->layers[l]);
    if (status != BT_CUDA_OK) return Fail(status, "layers[" + std::to_string(l) + "]: " + g_last_error);
  }
  if (s->batch < 0 || s->new_len < 0 || s->capacity < 0) return Invalid("batch, new_len and capacity must be non-negative");
  if (s->logits_rows != BT_CUDA_LOGITS_LAST && s->logits_rows != BT_CUDA_LOGITS_ALL) {
    return Invalid("logits_rows must be 0 (last) or 1 (all)");
  }
  // Token rows and positions are int on the device; buffers' bytes fit in int64.
  constexpr int64_t kMaxFloats = INT64_MAX / 16;
  const int64_t qkv = (m->num_heads + 2 * m->num_kv_heads) * m->head_dim;
  if (!CacheAttentionFits(s->batch, m->num_heads, m->num_kv_heads, s->new_len, s->capacity) ||
      !CountFits({s->batch, s->new_len}, INT_MAX / 4) || m->embed_dim > INT_MAX || m->vocab_size > INT_MAX ||
      !CountFits({s->batch, s->new_len, m->vocab_size}, kMaxFloats) ||
      !CountFits({s->batch, s->new_len, m->embed_dim + qkv + m->ffn_dim}, kMaxFloats / 8) ||
      !CountFits({m->num_layers, s->batch, m->num_kv_heads, s->capacity, m->head_dim}, kMaxFloats) ||
      !CountFits({s->batch, m->num_heads, s->capacity + s->new_len}, kMaxFloats)) {
    return Fail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits");
  }
  BT_RETURN_IF(ValidateDecoderEncoderSide(*m, *s, kMaxFloats));
  if (s->batch > 0 && (!s->past_lengths_host || !s->new_lengths_host)) {
    return Invalid("past_lengths_host and new_lengths_host are required");
  }
  if (s->batch * s->new_len > 0 && !s->input_ids_host) return Invalid("input_ids_host is required");
  BT_RETURN_IF(CheckHostPointers({{s->input_ids_host, "input_ids_host"}, {s->past_lengths_host, "past_lengths_host"},
                                  {s->new_lengths_host, "new_lengths_host"}, {s->lengths_host, "lengths_host"}}));
  BT_RETURN_IF(InvalidIf(bt_checks::CacheLengthsError(s->batch, s->new_len, s->capacity, s->past_lengths_host,
                                                      s->new_lengths_host)));
  BT_RETURN_IF(InvalidIf(bt_checks::TokenIdsError(s->batch, s->new_len, s->input_ids_host, s->new_lengths_host,
                                                  m->vocab_size)));
  BT_RETURN_IF(InvalidIf(bt_checks::StepPositionsError(s->batch, s->past_lengths_host, s->new_lengths_host,
                                                       m->position_embeddings ? m->position_rows : 0,
                                                       m->position_offset, m->rotary_dim > 0 ? m->rotary_rows : 0)));
  if (m->position_bias) {
    BT_RETURN_IF(InvalidIf(bt_checks::PositionBiasError(s->batch, s->past_lengths_host, s->new_lengths_host,
                                                        m->position_bias_rows)));
  }
  const bool caches = m->num_layers * s->batch * m->num_kv_heads * s->capacity > 0;
  if (caches && (!s->key_cache || !s->value_cache)) return Invalid("key_cache or value_cache is null");
  if (caches && s->key_cache == s->value_cache) return Invalid("key_cache and value_cache are the same buffer");
  const int64_t logit_rows = s->logits_rows == BT_CUDA_LOGITS_ALL ? s->batch * s->new_len : s->batch;
  if (logit_rows > 0 && !s->logits) return Invalid("logits is null");
  return BT_CUDA_OK;
}

int CheckDecoderPointers(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s) {
  BT_RETURN_IF(CheckDevicePointers({{m.word_embeddings, "word_embeddings"},
                                    {m.position_embeddings, "position_embeddings"},
                                    {m.rotary_dim > 0 ? m.rotary_cos : nullptr, "rotary_cos"},
                                    {m.rotary_dim > 0 ? m.rotary_sin : nullptr, "rotary_sin"},
                                    {m.final_norm_gamma, "final_norm_gamma"}, {m.final_norm_beta, "final_norm_beta"},
                                    {m.lm_head, "lm_head"}, {m.lm_head_bias, "lm_head_bias"},
                                    {s.key_cache, "key_cache"}, {s.value_cache, "value_cache"}, {s.logits, "logits"},
                                    {m.embedding_norm_gamma, "embedding_norm_gamma"},
                                    {m.embedding_norm_beta, "embedding_norm_beta"},
                                    {m.position_bias, "position_bias"}, {s.encoder_states, "encoder_states"},
                                    {s.cross_key_cache, "cross_key_cache"},
                                    {s.cross_value_cache, "cross_value_cache"}}));
  for (int64_t i = 0; i < m.num_layers; ++i) {
    const bt_cuda_decoder_layer& l = m.layers[i];
    const int status = CheckDevicePointers(
        {{l.norm1_gamma, "norm1_gamma"}, {l.norm1_beta, "norm1_beta"}, {l.norm2_gamma, "norm2_gamma"},
         {l.norm2_beta, "norm2_beta"}, {l.qkv_weight, "qkv_weight"}, {l.qkv_bias, "qkv_bias"},
         {l.q_weight, "q_weight"}, {l.q_bias, "q_bias"}, {l.k_weight, "k_weight"}, {l.k_bias, "k_bias"},
         {l.v_weight, "v_weight"}, {l.v_bias, "v_bias"}, {l.out_weight, "out_weight"}, {l.out_bias, "out_bias"},
         {l.gate_weight, "gate_weight"}, {l.gate_bias, "gate_bias"}, {l.up_weight, "up_weight"},
         {l.up_bias, "up_bias"}, {l.down_weight, "down_weight"}, {l.down_bias, "down_bias"},
         {l.cross_norm_gamma, "cross_norm_gamma"}, {l.cross_norm_beta, "cross_norm_beta"},
         {l.cross_q_weight, "cross_q_weight"}, {l.cross_q_bias, "cross_q_bias"},
         {l.cross_k_weight, "cross_k_weight"}, {l.cross_k_bias, "cross_k_bias"},
         {l.cross_v_weight, "cross_v_weight"}, {l.cross_v_bias, "cross_v_bias"},
         {l.cross_out_weight, "cross_out_weight"}, {l.cross_out_bias, "cross_out_bias"}});
    if (status != BT_CUDA_OK) return Fail(status, "layers[" + std::to_string(i) + "]: " + g_last_error);
  }
  return BT_CUDA_OK;
}

int WorkspaceTooSmall(size_t given, size_t needed, const void* workspace, const char* query) {
  if (given < needed || (needed > 0 && !workspace)) return Invalid(std::string("workspace is smaller than ") + query);
  return BT_CUDA_OK;
}

}  // namespace

extern "C" {

int bt_cuda_abi_version(void) { return BT_CUDA_ABI_VERSION; }

void bt_cuda_struct_sizes(size_t* attention, size_t* attention_grad, size_t* encoder, size_t* encoder_stack) {
  if (attention) *attention = sizeof(bt_cuda_attention);
  if (attention_grad) *attention_grad = sizeof(bt_cuda_attention_grad);
  if (encoder) *encoder = sizeof(bt_cuda_encoder);
  if (encoder_stack) *encoder_stack = sizeof(bt_cuda_encoder_stack);
}

void bt_cuda_decoder_struct_sizes(size_t* rms_norm, size_t* rotary, size_t* kv_cache, size_t* decoder_layer,
                                  size_t* decoder, size_t* decoder_step) {
  if (rms_norm) *rms_norm = sizeof(bt_cuda_rms_norm_args);
  if (rotary) *rotary = sizeof(bt_cuda_rotary_args);
  if (kv_cache) *kv_cache = sizeof(bt_cuda_kv_cache);
  if (decoder_layer) *decoder_layer = sizeof(bt_cuda_decoder_layer);
  if (decoder) *decoder = sizeof(bt_cuda_decoder);
  if (decoder_step) *decoder_step = sizeof(bt_cuda_decoder_step);
}

const char* bt_cuda_last_error(void) { return g_last_error.c_str(); }

const char* bt_cuda_status_name(int status) {
  switch (status) {
    case BT_CUDA_OK: return "ok";
    case BT_CUDA_INVALID_ARGUMENT: return "invalid argument";
    case BT_CUDA_NO_DEVICE: return "no CUDA device";
    case BT_CUDA_UNSUPPORTED: return "unsupported";
    case BT_CUDA_RUNTIME_ERROR: return "CUDA runtime error";
    case BT_CUDA_CUBLAS_ERROR: return "cuBLASLt error";
    default: return "unknown status";
  }
}

int bt_cuda_context_create(int device, bt_cuda_context** out) {
  if (!out) return Invalid("out is null");
  *out = nullptr;
  BT_RETURN_IF(RequireDevice());
  int count = 0;
  cudaGetDeviceCount(&count);
  if (device < 0 || device >= count) return Invalid("device index out of range");
  cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess) return CudaFail(err, "cudaSetDevice");
  auto* ctx = new (std::nothrow) bt_cuda_context;
  if (!ctx) return Fail(BT_CUDA_RUNTIME_ERROR, "out of host memory");
  ctx->device = device;
  // Non-blocking: our stream never implicitly waits on (or blocks) the legacy default stream.
  err = cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
  if (err == cudaSuccess) err = cudaMalloc(&ctx->lt.workspace, kLtWorkspaceBytes);
  if (err != cudaSuccess) {
    bt_cuda_context_destroy(ctx);
    return CudaFail(err, "creating the context");
  }
  ctx->lt.workspace_bytes = kLtWorkspaceBytes;
  try {
    ctx->lt.algos = btc::NewGemmAlgoCache();
  } catch (const std::bad_alloc&) {
    bt_cuda_context_destroy(ctx);
    return Fail(BT_CUDA_RUNTIME_ERROR, "out of host memory");
  }
  const cublasStatus_t st = cublasLtCreate(&ctx->lt.handle);
  if (st != CUBLAS_STATUS_SUCCESS) {
    bt_cuda_context_destroy(ctx);
    return Fail(BT_CUDA_CUBLAS_ERROR, "cublasLtCreate failed with status " + std::to_string(static_cast<int>(st)));
  }
  *out = ctx;
  return BT_CUDA_OK;
}

void bt_cuda_context_destroy(bt_cuda_context* ctx) {
  if (!ctx) return;
  cudaSetDevice(ctx->device);
  if (ctx->stream) cudaStreamSynchronize(ctx->stream);
  if (ctx->lt.handle) cublasLtDestroy(ctx->lt.handle);
  if (ctx->lt.workspace) cudaFree(ctx->lt.workspace);
  if (ctx->stream) cudaStreamDestroy(ctx->stream);
  delete ctx;
}

void* bt_cuda_context_stream(bt_cuda_context* ctx) { return ctx ? ctx->stream : nullptr; }

int bt_cuda_wait_device(bt_cuda_context* ctx) {
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, nullptr, &s));
  const cudaError_t err = cudaDeviceSynchronize();
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "cudaDeviceSynchronize");
}

int bt_cuda_synchronize(bt_cuda_context* ctx) {
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, nullptr, &s));
  const cudaError_t err = cudaStreamSynchronize(s);
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "cudaStreamSynchronize");
}

int bt_cuda_upload(bt_cuda_context* ctx, void* device_dst, const void* host_src, size_t bytes) {
  if (bytes == 0) return BT_CUDA_OK;
  if (!device_dst || !host_src) return Invalid("upload: null pointer");
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, nullptr, &s));
  BT_RETURN_IF(RequireDevicePointer(device_dst, "upload destination"));
  const cudaError_t err = cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, s);
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "cudaMemcpyAsync");
}

// 'medium' converts q, k and v to bfloat16 in the workspace; the other precisions need none.
static size_t ForwardWorkspaceBytes(const bt_cuda_attention& a) {
  if (a.precision != BT_CUDA_PRECISION_MEDIUM || Product({a.batch, a.heads, a.q_seq}) == 0) return 0;
  return btc::AttentionBf16WorkspaceBytes(ToParams(a), {a.batch * a.q_seq, a.batch * a.k_seq});
}

static size_t GradWorkspaceBytes(const bt_cuda_attention& a) {
  if (a.precision != BT_CUDA_PRECISION_MEDIUM || Product({a.batch, a.heads, a.q_seq}) == 0 ||
      Product({a.batch, a.kv_heads, a.k_seq}) == 0) {
    return DeltaBytes(a);
  }
  return DeltaBytesAligned(a) + btc::AttentionBackwardBf16ScratchBytes(ToParams(a));
}

int bt_cuda_scaled_dot_product_attention_workspace_bytes(const bt_cuda_attention* a, size_t* bytes) {
  BT_RETURN_IF(ValidateAttention(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = ForwardWorkspaceBytes(*a);
  return BT_CUDA_OK;
}

int bt_cuda_scaled_dot_product_attention(bt_cuda_context* ctx, const bt_cuda_attention* a, void* workspace,
                                         size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateAttention(a));
  const size_t needed = ForwardWorkspaceBytes(*a);
  BT_RETURN_IF(WorkspaceTooSmall(workspace_bytes, needed, workspace, "bt_cuda_scaled_dot_product_attention_workspace_bytes"));
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  BT_RETURN_IF(CheckAttentionPointers(*a));
  if (needed > 0) BT_RETURN_IF(RequireDevicePointer(workspace, "workspace"));
  if (Product({a->batch, a->heads, a->q_seq}) == 0) return BT_CUDA_OK;
  const btc::AttentionParams p = ToParams(*a);
  cudaError_t err;
  switch (a->precision) {
    case BT_CUDA_PRECISION_MEDIUM:
      err = btc::LaunchAttentionForwardBf16(p, {a->batch * a->q_seq, a->batch * a->k_seq}, workspace, s);
      break;
    case BT_CUDA_PRECISION_HIGH: err = btc::LaunchAttentionForwardTf32(p, s); break;
    default: err = btc::LaunchAttentionForwardFp32(p, s); break;
  }
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "attention forward launch");
}

int bt_cuda_scaled_dot_product_attention_grad_workspace_bytes(const bt_cuda_attention* a, size_t* bytes) {
  BT_RETURN_IF(ValidateAttention(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = GradWorkspaceBytes(*a);
  return BT_CUDA_OK;
}

int bt_cuda_scaled_dot_product_attention_grad(bt_cuda_context* ctx, const bt_cuda_attention* a,
                                              const bt_cuda_attention_grad* g, void* workspace,
                                              size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateAttention(a));
  if (!g) return Invalid("gradient arguments are null");
  const int64_t rows = Product({a->batch, a->heads, a->q_seq});
  const int64_t keys = Product({a->batch, a->kv_heads, a->k_seq});
  if (rows > 0 && (!g->dout || !g->out || !g->lse || !g->dq)) return Invalid("dout, out, lse or dq is null");
  if (keys > 0 && (!g->dk || (a->value_depth > 0 && !g->dv))) return Invalid("dk or dv is null");
  if (g->dmask && a->mask_kind != BT_CUDA_MASK_ADDITIVE) return Invalid("dmask is only for an additive mask");
  if (g->dmask && g->dmask_elements < MaskExtent(*a)) {
    return Invalid("dmask_elements is smaller than the extent the mask strides address");
  }
  if (workspace_bytes < GradWorkspaceBytes(*a) || (GradWorkspaceBytes(*a) > 0 && !workspace)) {
    return Invalid("workspace is smaller than bt_cuda_scaled_dot_product_attention_grad_workspace_bytes");
  }
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  BT_RETURN_IF(CheckAttentionPointers(*a));
  const void* grads[] = {g->dout, g->out, g->lse, g->dq, g->dk, g->dv, g->dmask, workspace};
  for (const void* ptr : grads) BT_RETURN_IF(RequireDevicePointer(ptr, "a gradient buffer or the workspace"));
  cudaError_t err = cudaSuccess;
  if (rows > 0) err = cudaMemsetAsync(g->dq, 0, static_cast<size_t>(rows * a->depth) * sizeof(float), s);
  if (err == cudaSuccess && g->dmask) {
    err = cudaMemsetAsync(g->dmask, 0, static_cast<size_t>(g->dmask_elements) * sizeof(float), s);
  }
  if (err != cudaSuccess) return CudaFail(err, "cudaMemsetAsync");
  if (keys == 0) return BT_CUDA_OK;
  btc::AttentionParams p = ToParams(*a);
  p.out = const_cast<float*>(g->out);
  p.lse = const_cast<float*>(g->lse);
  if (rows == 0) {
    // No query rows: the key gradients are zero.
    err = cudaMemsetAsync(g->dk, 0, static_cast<size_t>(keys * a->depth) * sizeof(float), s);
    if (err == cudaSuccess && g->dv) {
      err = cudaMemsetAsync(g->dv, 0, static_cast<size_t>(keys * a->value_depth) * sizeof(float), s);
    }
    return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "cudaMemsetAsync");
  }
  if (a->precision == BT_CUDA_PRECISION_MEDIUM) {
    err = btc::LaunchAttentionBackwardBf16(p, g->dout, static_cast<float*>(workspace), g->dq, g->dk, g->dv, g->dmask,
                                           static_cast<char*>(workspace) + DeltaBytesAligned(*a), s);
  } else {
    err = btc::LaunchAttentionBackward(p, g->dout, static_cast<float*>(workspace), g->dq, g->dk, g->dv, g->dmask, s);
  }
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "attention backward launch");
}

int bt_cuda_transformer_encoder_layer_workspace_bytes(const bt_cuda_encoder* e, size_t* bytes) {
  BT_RETURN_IF(ValidateEncoder(e));
  BT_RETURN_IF(RequireHostPointer(e->key_valid_host, "key_valid_host"));
  if (!bytes) return Invalid("bytes is null");
  *bytes = btc::EncoderWorkspaceBytes(*e, btc::PlanEncoder(*e));
  return BT_CUDA_OK;
}

int bt_cuda_transformer_encoder_layer(bt_cuda_context* ctx, const bt_cuda_encoder* e, void* workspace,
                                      size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateEncoder(e));
  BT_RETURN_IF(RequireHostPointer(e->key_valid_host, "key_valid_host"));
  const btc::EncoderPlan plan = btc::PlanEncoder(*e);
  if (workspace_bytes < btc::EncoderWorkspaceBytes(*e, plan) || !workspace) {
    return Invalid("workspace is smaller than bt_cuda_transformer_encoder_layer_workspace_bytes");
  }
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  if (e->batch * e->seq == 0) return BT_CUDA_OK;
  BT_RETURN_IF(CheckEncoderPointers(*e));
  BT_RETURN_IF(RequireDevicePointer(workspace, "workspace"));
  std::string error;
  const int status = btc::RunEncoderLayer(ctx->lt, *e, plan, workspace, s, &error);
  if (status != BT_CUDA_OK) {
    (void)cudaGetLastError();
    return Fail(status, "encoder layer: " + error);
  }
  return BT_CUDA_OK;
}

int bt_cuda_transformer_encoder_stack_workspace_bytes(const bt_cuda_encoder_stack* s, size_t* bytes) {
  BT_RETURN_IF(ValidateEncoderStack(s));
  BT_RETURN_IF(RequireHostPointer(s->key_valid_host, "key_valid_host"));
  if (!bytes) return Invalid("bytes is null");
  *bytes = PlanStackWorkspace(*s, PlanStack(*s)).Total();
  return BT_CUDA_OK;
}

int bt_cuda_transformer_encoder_stack(bt_cuda_context* ctx, const bt_cuda_encoder_stack* s, void* workspace,
                                      size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateEncoderStack(s));
  BT_RETURN_IF(RequireHostPointer(s->key_valid_host, "key_valid_host"));
  const btc::EncoderPlan plan = PlanStack(*s);
  const StackWorkspace w = PlanStackWorkspace(*s, plan);
  if (workspace_bytes < w.Total() || (w.Total() > 0 && !workspace)) {
    return Invalid("workspace is smaller than bt_cuda_transformer_encoder_stack_workspace_bytes");
  }
  BT_RETURN_IF(RequireDevice());
  cudaStream_t st = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &st));
  if (s->batch * s->seq == 0) return BT_CUDA_OK;
  BT_RETURN_IF(RequireDevicePointer(s->x, "x"));
  BT_RETURN_IF(RequireDevicePointer(s->y, "y"));
  for (int64_t l = 0; l < s->num_layers; ++l) {
    const int status = CheckEncoderPointers(StackLayer(*s, l, s->x, s->y));
    if (status != BT_CUDA_OK) return Fail(status, "layers[" + std::to_string(l) + "]: " + g_last_error);
  }
  BT_RETURN_IF(RequireDevicePointer(workspace, "workspace"));
  char* base = static_cast<char*>(workspace);
  if (s->num_layers == 0) return CopyRealRows(*s, plan, base + w.layer_bytes, st);
  float* activations[2] = {nullptr, nullptr};
  for (size_t i = 0; i < w.activations; ++i) {
    activations[i] = reinterpret_cast<float*>(base + w.layer_bytes + i * w.activation_bytes);
  }
  const float* x = s->x;
  for (int64_t l = 0; l < s->num_layers; ++l) {
    float* y = l + 1 == s->num_layers ? s->y : activations[l % 2];
    const bt_cuda_encoder e = StackLayer(*s, l, x, y);
    std::string error;
    const int status = btc::RunEncoderLayer(ctx->lt, e, plan, workspace, st, &error);
    if (status != BT_CUDA_OK) {
      (void)cudaGetLastError();
      return Fail(status, "encoder stack, layer " + std::to_string(l) + ": " + error);
    }
    x = y;
  }
  return BT_CUDA_OK;
}

// ---- decoding ----

int bt_cuda_rms_norm(bt_cuda_context* ctx, const bt_cuda_rms_norm_args* a, void* stream) {
  BT_RETURN_IF(ValidateRmsNorm(a));
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  if (a->rows * a->width == 0) return BT_CUDA_OK;
  BT_RETURN_IF(CheckDevicePointers({{a->x, "x"}, {a->gamma, "gamma"}, {a->y, "y"}}));
  const cudaError_t err =
      btc::LaunchNormRows(BT_CUDA_NORM_RMS, a->x, a->gamma, nullptr, a->eps, a->y, a->rows, static_cast<int>(a->width), s);
  return err == cudaSuccess ? BT_CUDA_OK : CudaFail(err, "rms norm launch");
}

int bt_cuda_rotary_embedding_workspace_bytes(const bt_cuda_rotary_args* a, size_t* bytes) {
  BT_RETURN_IF(ValidateRotary(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = btc::RotaryWorkspaceBytes(*a);
  return BT_CUDA_OK;
}

int bt_cuda_rotary_embedding(bt_cuda_context* ctx, const bt_cuda_rotary_args* a, void* workspace,
                             size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateRotary(a));
  BT_RETURN_IF(WorkspaceTooSmall(workspace_bytes, btc::RotaryWorkspaceBytes(*a), workspace,
                                 "bt_cuda_rotary_embedding_workspace_bytes"));
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  if (a->batch * a->heads * a->seq * a->head_dim == 0) return BT_CUDA_OK;
  BT_RETURN_IF(CheckDevicePointers({{a->x, "x"}, {a->y, "y"}, {a->rotary_dim > 0 ? a->cos : nullptr, "cos"},
                                    {a->rotary_dim > 0 ? a->sin : nullptr, "sin"}, {workspace, "workspace"}}));
  std::string error;
  const int status = btc::RunRotary(*a, workspace, s, &error);
  if (status != BT_CUDA_OK) {
    (void)cudaGetLastError();
    return Fail(status, "rotary embedding: " + error);
  }
  return BT_CUDA_OK;
}

int bt_cuda_attention_with_kv_cache_workspace_bytes(const bt_cuda_kv_cache* a, size_t* bytes) {
  BT_RETURN_IF(ValidateKvCache(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = btc::KvCacheWorkspaceBytes(*a, btc::PlanKvCache(*a));
  return BT_CUDA_OK;
}

int bt_cuda_attention_with_kv_cache(bt_cuda_context* ctx, const bt_cuda_kv_cache* a, void* workspace,
                                    size_t workspace_bytes, void* stream) {
  BT_RETURN_IF(ValidateKvCache(a));
  const btc::KvCachePlan plan = btc::PlanKvCache(*a);
  BT_RETURN_IF(WorkspaceTooSmall(workspace_bytes, btc::KvCacheWorkspaceBytes(*a, plan), workspace,
                                 "bt_cuda_attention_with_kv_cache_workspace_bytes"));
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  BT_RETURN_IF(CheckKvCachePointers(*a));
  BT_RETURN_IF(RequireDevicePointer(workspace, "workspace"));
  WriteLengths(a->lengths_host, a->batch, a->past_lengths_host, a->new_lengths_host);
  std::string error;
  const int status = btc::RunKvCache(*a, plan, workspace, s, &error);
  if (status != BT_CUDA_OK) {
    (void)cudaGetLastError();
    return Fail(status, "attention with kv cache: " + error);
  }
  return BT_CUDA_OK;
}

int bt_cuda_transformer_decoder_stack_workspace_bytes(const bt_cuda_decoder* model, const bt_cuda_decoder_step* step,
                                                      size_t* bytes) {
  BT_RETURN_IF(ValidateDecoder(model, step));
  if (!bytes) return Invalid("bytes is null");
  *bytes = btc::DecoderWorkspaceBytes(*model, *step, btc::PlanDecoder(*model, *step));
  return BT_CUDA_OK;
}

int bt_cuda_transformer_decoder_stack(bt_cuda_context* ctx, const bt_cuda_decoder* model,
                                      const bt_cuda_decoder_step* step, void* workspace, size_t workspace_bytes,
                                      void* stream) {
  BT_RETURN_IF(ValidateDecoder(model, step));
  const btc::DecoderPlan plan = btc::PlanDecoder(*model, *step);
  BT_RETURN_IF(WorkspaceTooSmall(workspace_bytes, btc::DecoderWorkspaceBytes(*model, *step, plan), workspace,
                                 "bt_cuda_transformer_decoder_stack_workspace_bytes"));
  BT_RETURN_IF(RequireDevice());
  cudaStream_t s = nullptr;
  BT_RETURN_IF(Enter(ctx, stream, &s));
  BT_RETURN_IF(CheckDecoderPointers(*model, *step));
  BT_RETURN_IF(RequireDevicePointer(workspace, "workspace"));
  WriteLengths(step->lengths_host, step->batch, step->past_lengths_host, step->new_lengths_host);
  std::string error;
  const int status = btc::RunDecoder(ctx->lt, *model, *step, plan, workspace, s, &error);
  if (status != BT_CUDA_OK) {
    (void)cudaGetLastError();
    return Fail(status, "transformer decoder stack: " + error);
  }
  return BT_CUDA_OK;
}

}  // extern "C"

// ---- for the C ABI's other translation units (api_internal.h) ----
namespace btc {
int ApiFail(int status, const std::string& message) { return Fail(status, message); }
int ApiCudaFail(cudaError_t err, const char* what) { return CudaFail(err, what); }
int ApiRequireDevice() { return RequireDevice(); }
int ApiEnter(bt_cuda_context* ctx, void* stream, cudaStream_t* out) { return Enter(ctx, stream, out); }
int ApiRequireDevicePointer(const void* ptr, const char* name) { return RequireDevicePointer(ptr, name); }
int ApiRequireHostPointer(const void* ptr, const char* name) { return RequireHostPointer(ptr, name); }
}  // namespace btc
