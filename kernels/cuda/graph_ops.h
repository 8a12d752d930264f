// Launchers of the graph ops' kernels and beam search's cache reorder: the
// embedding sum's row gather-and-add and the two passes of the in-place
// reorder. LayerNorm is decoder_kernels.h's LaunchNormRows. The C ABI's checks
// come first (bt_cuda_api_graph_ops.cu), so the launchers trust their sizes,
// row ids and source rows.
#ifndef TFJS_BT_CUDA_GRAPH_OPS_H_
#define TFJS_BT_CUDA_GRAPH_OPS_H_

#include <cstdint>

#include <cuda_runtime.h>

namespace btc {

// y[r] = Σ_k tables[k][row_ids[k * rows + r]] over rows of `width`, added in term order.
// tables: a device array of num_terms device pointers; row_ids: device [num_terms, rows].
cudaError_t LaunchEmbeddingSum(const float* const* tables, const int* row_ids, int num_terms, float* y, int64_t rows,
                               int width, cudaStream_t stream);

// One layer of the reorder, for both caches (c = 0: keys, 1: values), rows of
// [kv_heads, capacity, head_dim] floats. Save: each row r with saved_at[r] >= 0
// copies its first lengths[r] positions of every head into scratch at
// c * scratch_half + saved_at[r] (heads one after another, lengths[r] * head_dim each).
// Place: each row b with r = sources[b] != b takes row r's first lengths[r]
// positions, from the scratch where r was saved, else from row r in place.
cudaError_t LaunchReorderSave(const float* key_layer, const float* value_layer, float* scratch, int64_t scratch_half,
                              const int* lengths, const int64_t* saved_at, int batch, int kv_heads, int64_t capacity,
                              int head_dim, cudaStream_t stream);
cudaError_t LaunchReorderPlace(float* key_layer, float* value_layer, const float* scratch, int64_t scratch_half,
                               const int* sources, const int* lengths, const int64_t* saved_at, int batch,
                               int kv_heads, int64_t capacity, int head_dim, cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_GRAPH_OPS_H_
