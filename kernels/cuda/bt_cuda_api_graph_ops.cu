// The C ABI of the graph ops and of beam search's cache reorder
// (kernels/include/bt_cuda.h: bt_cuda_layer_norm, bt_cuda_embedding_sum,
// bt_cuda_reorder_cache): argument validation (no GPU needed; host tables
// checked value by value before any device work), device checks, then the
// kernels of graph_ops.cu and decoder_kernels.cu. Failures set the same
// per-thread message as every other entry point (api_internal.h).
#include <climits>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

#include "../bindings/tensorflow/decoder_checks.h"
#include "../shared/problem_checks.h"
#include "api_internal.h"
#include "bt_cuda.h"
#include "decoder_kernels.h"
#include "graph_ops.h"

namespace {

#define BT_GRAPH_RETURN_IF(status_expr)               \
  do {                                                \
    const int bt_status_ = (status_expr);             \
    if (bt_status_ != BT_CUDA_OK) return bt_status_;  \
  } while (0)

int Invalid(const std::string& message) { return btc::ApiFail(BT_CUDA_INVALID_ARGUMENT, message); }
int Unsupported() { return btc::ApiFail(BT_CUDA_UNSUPPORTED, "sizes exceed the GPU kernels' limits"); }
int InvalidIf(const std::string& message) { return message.empty() ? BT_CUDA_OK : Invalid(message); }

// The product of the (non-negative) sizes fits in int64 and is at most `limit`.
bool CountFits(std::initializer_list<int64_t> dims, int64_t limit) {
  int64_t n = 0;
  return bt_checks::CheckedProduct(dims, &n) && n <= limit;
}

bool FiniteNonNegative(float v) { return std::isfinite(v) && v >= 0.f; }

size_t AlignUp256(size_t n) { return (n + 255) / 256 * 256; }

// [a, a + a_floats) and [b, b + b_floats) share memory.
bool Overlap(const float* a, int64_t a_floats, const float* b, int64_t b_floats) {
  if (!a || !b || a_floats == 0 || b_floats == 0) return false;
  const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
  return pa < pb + static_cast<uintptr_t>(b_floats) * sizeof(float) &&
         pb < pa + static_cast<uintptr_t>(a_floats) * sizeof(float);
}

int CheckDevicePointers(std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& p : pointers) BT_GRAPH_RETURN_IF(btc::ApiRequireDevicePointer(p.first, p.second));
  return BT_CUDA_OK;
}

int CheckHostPointers(std::initializer_list<std::pair<const void*, const char*>> pointers) {
  for (const auto& p : pointers) BT_GRAPH_RETURN_IF(btc::ApiRequireHostPointer(p.first, p.second));
  return BT_CUDA_OK;
}

int WorkspaceTooSmall(size_t given, size_t needed, const void* workspace, const char* query) {
  if (given < needed || (needed > 0 && !workspace)) return Invalid(std::string("workspace is smaller than ") + query);
  return BT_CUDA_OK;
}

int Launched(cudaError_t err, const char* what) {
  return err == cudaSuccess ? BT_CUDA_OK : btc::ApiCudaFail(err, what);
}

int Upload(void* device, const void* host, size_t bytes, cudaStream_t stream, const char* what) {
  if (bytes == 0) return BT_CUDA_OK;
  // A pageable source is staged before cudaMemcpyAsync returns: the host buffer may go away after.
  return Launched(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice, stream), what);
}

// Rows of the norm kernel's grid (8 a block) and widths it indexes with int.
bool NormRowsFit(int64_t rows, int64_t width) {
  return width <= INT_MAX && rows / 8 < INT_MAX && CountFits({rows, width}, INT64_MAX / 8);
}

// ---- LayerNorm ----

int ValidateLayerNorm(const bt_cuda_layer_norm_args* a) {
  if (!a) return Invalid("layer norm arguments are null");
  if (a->rows < 0 || a->width < 0) return Invalid("rows and width must be non-negative");
  if (!FiniteNonNegative(a->eps)) return Invalid("eps must be finite and non-negative");
  if (!NormRowsFit(a->rows, a->width)) return Unsupported();
  const int64_t elements = a->rows * a->width;
  if (elements > 0 && (!a->x || !a->y)) return Invalid("x or y is null");
  if (a->x != a->y && Overlap(a->x, elements, a->y, elements)) return Invalid("y must be x or not overlap it");
  return BT_CUDA_OK;
}

// ---- EmbeddingSum ----

int ValidateEmbeddingSum(const bt_cuda_embedding_sum_args* a) {
  if (!a) return Invalid("embedding sum arguments are null");
  if (a->rows < 0 || a->width < 0) return Invalid("rows and width must be non-negative");
  if (a->num_terms < 1) return Invalid("num_terms (" + std::to_string(a->num_terms) + ") must be at least 1");
  if (!FiniteNonNegative(a->eps)) return Invalid("eps must be finite and non-negative");
  if (!NormRowsFit(a->rows, a->width) || a->num_terms > INT_MAX || !CountFits({a->num_terms, a->rows}, INT64_MAX / 8)) {
    return Unsupported();
  }
  const int64_t elements = a->rows * a->width;
  if (elements == 0) return BT_CUDA_OK;  // nothing is read or written
  if (!a->y) return Invalid("y is null");
  if (!a->tables_host || !a->table_rows_host || !a->row_ids_host) {
    return Invalid("tables_host, table_rows_host and row_ids_host are required");
  }
  BT_GRAPH_RETURN_IF(CheckHostPointers({{a->tables_host, "tables_host"}, {a->table_rows_host, "table_rows_host"},
                                        {a->row_ids_host, "row_ids_host"}}));
  for (int64_t k = 0; k < a->num_terms; ++k) {
    const std::string term = "term " + std::to_string(k);
    const int64_t table_rows = a->table_rows_host[k];
    if (table_rows < 0) return Invalid(term + ": table_rows must be non-negative");
    if (!CountFits({table_rows, a->width}, INT64_MAX / 8)) return Unsupported();
    if (table_rows > 0 && !a->tables_host[k]) return Invalid(term + ": the table is null");
    if (Overlap(a->tables_host[k], table_rows * a->width, a->y, elements)) {
      return Invalid(term + ": y overlaps the table");
    }
    const int32_t* ids = a->row_ids_host + k * a->rows;
    for (int64_t r = 0; r < a->rows; ++r) {
      if (ids[r] < 0 || ids[r] >= table_rows) {
        return Invalid("row_ids_host[" + std::to_string(k) + ", " + std::to_string(r) + "] = " +
                       std::to_string(ids[r]) + " is outside [0, " + std::to_string(table_rows) + "), the rows of " +
                       term + "'s table");
      }
    }
  }
  return BT_CUDA_OK;
}

// The workspace: the row ids [num_terms, rows] (int), then the table pointers.
struct EmbeddingSumWorkspace {
  size_t ids_bytes = 0, tables_bytes = 0;
  size_t Total() const { return ids_bytes + tables_bytes; }
};

EmbeddingSumWorkspace PlanEmbeddingSum(const bt_cuda_embedding_sum_args& a) {
  EmbeddingSumWorkspace w;
  if (a.rows * a.width == 0) return w;
  w.ids_bytes = AlignUp256(static_cast<size_t>(a.num_terms * a.rows) * sizeof(int32_t));
  w.tables_bytes = AlignUp256(static_cast<size_t>(a.num_terms) * sizeof(const float*));
  return w;
}

// ---- ReorderCache ----

int ValidateReorderCache(const bt_cuda_reorder_cache_args* a) {
  if (!a) return Invalid("reorder cache arguments are null");
  if (a->num_layers < 0 || a->batch < 0 || a->kv_heads < 0 || a->capacity < 0 || a->head_dim < 0) {
    return Invalid("num_layers, batch, kv_heads, capacity and head_dim must be non-negative");
  }
  if (a->batch > INT_MAX || a->kv_heads > 65535 / 2 || a->capacity > INT_MAX || a->head_dim > INT_MAX ||
      !CountFits({a->num_layers, a->batch, a->kv_heads, a->capacity, a->head_dim}, INT64_MAX / 8)) {
    return Unsupported();
  }
  if (a->batch > 0) {
    if (!a->lengths_host || !a->source_rows_host) return Invalid("lengths_host and source_rows_host are required");
    BT_GRAPH_RETURN_IF(CheckHostPointers({{a->lengths_host, "lengths_host"}, {a->source_rows_host, "source_rows_host"},
                                          {a->new_lengths_host, "new_lengths_host"}}));
    BT_GRAPH_RETURN_IF(InvalidIf(bt_checks::ReorderRowsError(a->batch, a->capacity, a->lengths_host,
                                                            a->source_rows_host)));
  }
  const int64_t elements = a->num_layers * a->batch * a->kv_heads * a->capacity * a->head_dim;
  if (elements > 0) {
    if (!a->key_cache || !a->value_cache) return Invalid("key_cache or value_cache is null");
    if (Overlap(a->key_cache, elements, a->value_cache, elements)) {
      return Invalid("key_cache and value_cache must be distinct buffers");
    }
  }
  return BT_CUDA_OK;
}

// Sources read after their own row is overwritten (r = sources[b] != b with sources[r] != r) are
// saved first: saved_at[r] is the offset of r's used rows in one cache's half of the scratch.
struct ReorderPlan {
  std::vector<int64_t> saved_at;
  int64_t scratch_half = 0;  // floats per cache
  bool moves = false;        // some row takes another's positions
};

ReorderPlan PlanReorder(const bt_cuda_reorder_cache_args& a) {
  ReorderPlan p;
  p.saved_at.assign(static_cast<size_t>(a.batch), -1);
  for (int64_t b = 0; b < a.batch; ++b) {
    const int64_t r = a.source_rows_host[b];
    if (r == b || a.lengths_host[r] == 0) continue;
    p.moves = true;
    if (a.source_rows_host[r] == r || p.saved_at[static_cast<size_t>(r)] >= 0) continue;
    p.saved_at[static_cast<size_t>(r)] = p.scratch_half;
    p.scratch_half += a.kv_heads * a.lengths_host[r] * a.head_dim;
  }
  return p;
}

bool ReorderTouchesCaches(const bt_cuda_reorder_cache_args& a) {
  return a.num_layers * a.batch * a.kv_heads * a.capacity * a.head_dim > 0;
}

// The workspace: sources and lengths [B] (int), saved_at [B] (int64), then the scratch (both caches).
struct ReorderWorkspace {
  size_t sources = 0, lengths = 0, saved_at = 0, scratch = 0;
  size_t Total() const { return sources + lengths + saved_at + scratch; }
};

ReorderWorkspace PlanReorderWorkspace(const bt_cuda_reorder_cache_args& a, const ReorderPlan& p) {
  ReorderWorkspace w;
  if (!ReorderTouchesCaches(a) || !p.moves) return w;
  w.sources = AlignUp256(static_cast<size_t>(a.batch) * sizeof(int32_t));
  w.lengths = w.sources;
  w.saved_at = AlignUp256(static_cast<size_t>(a.batch) * sizeof(int64_t));
  w.scratch = AlignUp256(static_cast<size_t>(2 * p.scratch_half) * sizeof(float));
  return w;
}

}  // namespace

extern "C" {

void bt_cuda_graph_op_struct_sizes(size_t* layer_norm, size_t* embedding_sum, size_t* reorder_cache) {
  if (layer_norm) *layer_norm = sizeof(bt_cuda_layer_norm_args);
  if (embedding_sum) *embedding_sum = sizeof(bt_cuda_embedding_sum_args);
  if (reorder_cache) *reorder_cache = sizeof(bt_cuda_reorder_cache_args);
}

int bt_cuda_layer_norm(bt_cuda_context* ctx, const bt_cuda_layer_norm_args* a, void* stream) {
  BT_GRAPH_RETURN_IF(ValidateLayerNorm(a));
  BT_GRAPH_RETURN_IF(btc::ApiRequireDevice());
  cudaStream_t s = nullptr;
  BT_GRAPH_RETURN_IF(btc::ApiEnter(ctx, stream, &s));
  if (a->rows * a->width == 0) return BT_CUDA_OK;
  BT_GRAPH_RETURN_IF(CheckDevicePointers({{a->x, "x"}, {a->gamma, "gamma"}, {a->beta, "beta"}, {a->y, "y"}}));
  return Launched(btc::LaunchNormRows(BT_CUDA_NORM_LAYER, a->x, a->gamma, a->beta, a->eps, a->y, a->rows,
                                      static_cast<int>(a->width), s),
                  "layer norm launch");
}

int bt_cuda_embedding_sum_workspace_bytes(const bt_cuda_embedding_sum_args* a, size_t* bytes) {
  BT_GRAPH_RETURN_IF(ValidateEmbeddingSum(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = PlanEmbeddingSum(*a).Total();
  return BT_CUDA_OK;
}

int bt_cuda_embedding_sum(bt_cuda_context* ctx, const bt_cuda_embedding_sum_args* a, void* workspace,
                          size_t workspace_bytes, void* stream) {
  BT_GRAPH_RETURN_IF(ValidateEmbeddingSum(a));
  const EmbeddingSumWorkspace w = PlanEmbeddingSum(*a);
  BT_GRAPH_RETURN_IF(WorkspaceTooSmall(workspace_bytes, w.Total(), workspace, "bt_cuda_embedding_sum_workspace_bytes"));
  BT_GRAPH_RETURN_IF(btc::ApiRequireDevice());
  cudaStream_t s = nullptr;
  BT_GRAPH_RETURN_IF(btc::ApiEnter(ctx, stream, &s));
  if (a->rows * a->width == 0) return BT_CUDA_OK;
  BT_GRAPH_RETURN_IF(CheckDevicePointers({{a->y, "y"}, {workspace, "workspace"},
                                          {a->has_norm ? a->gamma : nullptr, "gamma"},
                                          {a->has_norm ? a->beta : nullptr, "beta"}}));
  for (int64_t k = 0; k < a->num_terms; ++k) {
    const std::string name = "the table of term " + std::to_string(k);
    BT_GRAPH_RETURN_IF(btc::ApiRequireDevicePointer(a->tables_host[k], name.c_str()));
  }
  char* base = static_cast<char*>(workspace);
  auto* ids = reinterpret_cast<int32_t*>(base);
  auto* tables = reinterpret_cast<const float**>(base + w.ids_bytes);
  BT_GRAPH_RETURN_IF(Upload(ids, a->row_ids_host, static_cast<size_t>(a->num_terms * a->rows) * sizeof(int32_t), s,
                            "uploading the row ids"));
  BT_GRAPH_RETURN_IF(Upload(tables, a->tables_host, static_cast<size_t>(a->num_terms) * sizeof(const float*), s,
                            "uploading the table pointers"));
  const int width = static_cast<int>(a->width);
  BT_GRAPH_RETURN_IF(Launched(btc::LaunchEmbeddingSum(tables, ids, static_cast<int>(a->num_terms), a->y, a->rows,
                                                      width, s),
                              "embedding sum launch"));
  if (!a->has_norm) return BT_CUDA_OK;
  return Launched(btc::LaunchNormRows(BT_CUDA_NORM_LAYER, a->y, a->gamma, a->beta, a->eps, a->y, a->rows, width, s),
                  "embedding sum norm launch");
}

int bt_cuda_reorder_cache_workspace_bytes(const bt_cuda_reorder_cache_args* a, size_t* bytes) {
  BT_GRAPH_RETURN_IF(ValidateReorderCache(a));
  if (!bytes) return Invalid("bytes is null");
  *bytes = PlanReorderWorkspace(*a, PlanReorder(*a)).Total();
  return BT_CUDA_OK;
}

int bt_cuda_reorder_cache(bt_cuda_context* ctx, const bt_cuda_reorder_cache_args* a, void* workspace,
                          size_t workspace_bytes, void* stream) {
  BT_GRAPH_RETURN_IF(ValidateReorderCache(a));
  const ReorderPlan plan = PlanReorder(*a);
  const ReorderWorkspace w = PlanReorderWorkspace(*a, plan);
  BT_GRAPH_RETURN_IF(WorkspaceTooSmall(workspace_bytes, w.Total(), workspace, "bt_cuda_reorder_cache_workspace_bytes"));
  BT_GRAPH_RETURN_IF(btc::ApiRequireDevice());
  cudaStream_t s = nullptr;
  BT_GRAPH_RETURN_IF(btc::ApiEnter(ctx, stream, &s));
  const bool touches = ReorderTouchesCaches(*a) && plan.moves;
  if (touches) {
    BT_GRAPH_RETURN_IF(CheckDevicePointers({{a->key_cache, "key_cache"}, {a->value_cache, "value_cache"},
                                            {workspace, "workspace"}}));
  }
  const std::vector<int32_t> old_lengths(a->lengths_host, a->lengths_host + a->batch);
  if (a->new_lengths_host) {
    for (int64_t b = 0; b < a->batch; ++b) {
      a->new_lengths_host[b] = old_lengths[static_cast<size_t>(a->source_rows_host[b])];
    }
  }
  if (!touches) return BT_CUDA_OK;
  char* base = static_cast<char*>(workspace);
  auto* sources = reinterpret_cast<int32_t*>(base);
  auto* lengths = reinterpret_cast<int32_t*>(base + w.sources);
  auto* saved_at = reinterpret_cast<int64_t*>(base + w.sources + w.lengths);
  auto* scratch = reinterpret_cast<float*>(base + w.sources + w.lengths + w.saved_at);
  const size_t b_ints = static_cast<size_t>(a->batch) * sizeof(int32_t);
  BT_GRAPH_RETURN_IF(Upload(sources, a->source_rows_host, b_ints, s, "uploading the source rows"));
  BT_GRAPH_RETURN_IF(Upload(lengths, old_lengths.data(), b_ints, s, "uploading the lengths"));
  BT_GRAPH_RETURN_IF(Upload(saved_at, plan.saved_at.data(), plan.saved_at.size() * sizeof(int64_t), s,
                            "uploading the saved rows"));
  const int64_t layer_floats = a->batch * a->kv_heads * a->capacity * a->head_dim;
  const int batch = static_cast<int>(a->batch), kv_heads = static_cast<int>(a->kv_heads);
  const int head_dim = static_cast<int>(a->head_dim);
  // One layer at a time: the scratch holds one layer's saved rows of both caches; the stream orders the layers.
  for (int64_t l = 0; l < a->num_layers; ++l) {
    float* keys = a->key_cache + l * layer_floats;
    float* values = a->value_cache + l * layer_floats;
    BT_GRAPH_RETURN_IF(Launched(btc::LaunchReorderSave(keys, values, scratch, plan.scratch_half, lengths, saved_at,
                                                       batch, kv_heads, a->capacity, head_dim, s),
                                "reorder cache save launch"));
    BT_GRAPH_RETURN_IF(Launched(btc::LaunchReorderPlace(keys, values, scratch, plan.scratch_half, sources, lengths,
                                                        saved_at, batch, kv_heads, a->capacity, head_dim, s),
                                "reorder cache place launch"));
  }
  return BT_CUDA_OK;
}

}  // extern "C"
