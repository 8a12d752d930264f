// Inputs of the graph ops BtLayerNorm and BtEmbeddingSum, read and checked
// once for the CPU and GPU kernels (graph_ops.cc, graph_ops_gpu.cc):
//   BtLayerNorm      x [..., W], gamma [W], beta [W]
//   BtEmbeddingSum   gamma, beta ([W] with has_norm, else unused), tables: N float tensors,
//                    indices: N int32 tensors. Term k is a lookup (lookups[k]: table [rows, W]
//                    gathered at indices k) or a constant (table [..., W] added as it is; its
//                    indices are a placeholder). The index shapes and the constants' leading
//                    axes broadcast (numpy rules) to the output's row shape R; output [...R, W].
// The embedding sum's indices are read on the host (the CPU kernel; a HostMemory input of the
// GPU kernel) and every one is checked against its table's rows before anything runs; they come
// out as one table row per term and output row (row_ids), which both kernels sum. No table's
// data is read here (on a GPU it is device memory).
#ifndef TFJS_BT_TENSORFLOW_GRAPH_OP_INPUTS_H_
#define TFJS_BT_TENSORFLOW_GRAPH_OP_INPUTS_H_

#include <cstdint>
#include <vector>

#include "tf_helpers.h"

namespace bt_tf {

// ---- BtLayerNorm ----

struct LayerNormInputs {
  TensorPtr x, gamma, beta;
  int64_t rows = 0, width = 0;
};
void ReadLayerNormInputs(TF_OpKernelContext* ctx, LayerNormInputs* in);

// ---- BtEmbeddingSum ----

// BtLayerNorm's attribute, for the CPU and GPU kernels (their create / delete functions).
struct LayerNormAttrs {
  float epsilon;
};
void* CreateLayerNormAttrs(TF_OpKernelConstruction* ctx);
void DeleteLayerNormAttrs(void* attrs);

struct EmbeddingSumAttrs {
  int32_t num_terms = 0;
  std::vector<bool> lookups;
  bool has_norm = false;
  float epsilon = 0;
};
// Reads and checks the attributes (failing the construction on a bad one).
void ReadEmbeddingSumAttrs(TF_OpKernelConstruction* ctx, EmbeddingSumAttrs* a);

struct EmbeddingSumInputs {
  TensorPtr gamma, beta;               // [W] with has_norm
  std::vector<TensorPtr> tables;       // [num_terms]
  std::vector<int64_t> table_rows;     // rows of each table as [rows, W]
  std::vector<int64_t> row_shape;      // R
  int64_t rows = 0, width = 0;         // rows = product of R
  std::vector<int32_t> row_ids;        // [num_terms, rows]: term k's table row for output row r
};
void ReadEmbeddingSumInputs(TF_OpKernelContext* ctx, const EmbeddingSumAttrs& a, EmbeddingSumInputs* in);

// The output's shape, [...R, W].
std::vector<int64_t> EmbeddingSumShape(const EmbeddingSumInputs& in);

}  // namespace bt_tf

#endif  // TFJS_BT_TENSORFLOW_GRAPH_OP_INPUTS_H_
