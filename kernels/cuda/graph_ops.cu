// Kernels of the graph ops (embedding sum) and of beam search's in-place cache
// reorder (graph_ops.h).
#include "graph_ops.h"

#include <algorithm>

namespace btc {
namespace {

// Blocks stride over the rows; threads over a row's columns. Each output
// element adds its terms in order, as the composite's chain of adds does.
__global__ void EmbeddingSumKernel(const float* const* tables, const int* row_ids, int num_terms, float* y,
                                   int64_t rows, int width) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    float* yr = y + r * width;
    for (int c = threadIdx.x; c < width; c += blockDim.x) {
      float sum = tables[0][static_cast<int64_t>(row_ids[r]) * width + c];
      for (int k = 1; k < num_terms; ++k) {
        sum += tables[k][static_cast<int64_t>(row_ids[static_cast<int64_t>(k) * rows + r]) * width + c];
      }
      yr[c] = sum;
    }
  }
}

// Grid (row, cache * kv_heads + head).
__global__ void ReorderSaveKernel(const float* key_layer, const float* value_layer, float* scratch,
                                  int64_t scratch_half, const int* lengths, const int64_t* saved_at, int kv_heads,
                                  int64_t capacity, int head_dim) {
  const int64_t r = blockIdx.x;
  const int64_t at = saved_at[r];
  if (at < 0) return;
  const int c = blockIdx.y / kv_heads, g = blockIdx.y % kv_heads;
  const int64_t used = static_cast<int64_t>(lengths[r]) * head_dim;
  const float* from = (c == 0 ? key_layer : value_layer) + (r * kv_heads + g) * capacity * head_dim;
  float* to = scratch + c * scratch_half + at + g * used;
  for (int64_t i = threadIdx.x; i < used; i += blockDim.x) to[i] = from[i];
}

__global__ void ReorderPlaceKernel(float* key_layer, float* value_layer, const float* scratch, int64_t scratch_half,
                                   const int* sources, const int* lengths, const int64_t* saved_at, int kv_heads,
                                   int64_t capacity, int head_dim) {
  const int64_t b = blockIdx.x;
  const int64_t r = sources[b];
  if (r == b) return;
  const int c = blockIdx.y / kv_heads, g = blockIdx.y % kv_heads;
  const int64_t used = static_cast<int64_t>(lengths[r]) * head_dim;
  float* layer = c == 0 ? key_layer : value_layer;
  // A source still in place is a row that keeps its contents (never written here).
  const float* from = saved_at[r] >= 0 ? scratch + c * scratch_half + saved_at[r] + g * used
                                       : layer + (r * kv_heads + g) * capacity * head_dim;
  float* to = layer + (b * kv_heads + g) * capacity * head_dim;
  for (int64_t i = threadIdx.x; i < used; i += blockDim.x) to[i] = from[i];
}

constexpr int64_t kMaxBlocks = 65535;

}  // namespace

cudaError_t LaunchEmbeddingSum(const float* const* tables, const int* row_ids, int num_terms, float* y, int64_t rows,
                               int width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return cudaSuccess;
  const int threads = width >= 256 ? 256 : width >= 128 ? 128 : 64;
  EmbeddingSumKernel<<<static_cast<unsigned>(std::min(rows, kMaxBlocks * 16)), threads, 0, stream>>>(
      tables, row_ids, num_terms, y, rows, width);
  return cudaGetLastError();
}

cudaError_t LaunchReorderSave(const float* key_layer, const float* value_layer, float* scratch, int64_t scratch_half,
                              const int* lengths, const int64_t* saved_at, int batch, int kv_heads, int64_t capacity,
                              int head_dim, cudaStream_t stream) {
  if (batch == 0 || kv_heads == 0 || scratch_half == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(2 * kv_heads));
  ReorderSaveKernel<<<grid, 256, 0, stream>>>(key_layer, value_layer, scratch, scratch_half, lengths, saved_at,
                                              kv_heads, capacity, head_dim);
  return cudaGetLastError();
}

cudaError_t LaunchReorderPlace(float* key_layer, float* value_layer, const float* scratch, int64_t scratch_half,
                               const int* sources, const int* lengths, const int64_t* saved_at, int batch,
                               int kv_heads, int64_t capacity, int head_dim, cudaStream_t stream) {
  if (batch == 0 || kv_heads == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(batch), static_cast<unsigned>(2 * kv_heads));
  ReorderPlaceKernel<<<grid, 256, 0, stream>>>(key_layer, value_layer, scratch, scratch_half, sources, lengths,
                                               saved_at, kv_heads, capacity, head_dim);
  return cudaGetLastError();
}

}  // namespace btc
