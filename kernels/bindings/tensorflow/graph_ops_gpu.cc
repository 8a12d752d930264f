// DEVICE_GPU kernels of BtLayerNorm, BtEmbeddingSum and BtReorderCache on
// libbt_cuda (bt_cuda_layer_norm, bt_cuda_embedding_sum, bt_cuda_reorder_cache).
// Built only with BT_WITH_CUDA, as gpu_kernels.cc, and ordered the same way
// (gpu_stream_order.h). Inputs are read and checked by the code the CPU kernels
// use (graph_op_inputs.h, decoder_inputs.h). In host memory: the embedding
// sum's indices (checked against the tables and turned into one table row per
// term and output row on the host) and the reorder's lengths and source rows
// (checked before anything moves) and its lengths output; every other tensor
// stays on the device. The reorder's caches are reordered in place and
// returned, as on the CPU.
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "bt_cuda.h"
#include "decoder_inputs.h"
#include "gpu_stream_order.h"
#include "graph_op_inputs.h"
#include "ops_registry.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

// ---- BtLayerNorm ----

void ComputeGpuLayerNorm(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    LayerNormInputs in;
    ReadLayerNormInputs(ctx, &in);
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.rows * in.width == 0) return;
    bt_cuda_layer_norm_args a{};
    a.rows = in.rows;
    a.width = in.width;
    a.eps = static_cast<const LayerNormAttrs*>(attrs)->epsilon;
    a.x = FloatData(in.x.get());
    a.gamma = FloatData(in.gamma.get());
    a.beta = FloatData(in.beta.get());
    a.y = FloatData(y.get());
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_layer_norm(work.context(), &a, nullptr), "layer norm");
    work.Finish();
  });
}

// ---- BtEmbeddingSum ----

void* CreateGpuEmbeddingSum(TF_OpKernelConstruction* ctx) {
  auto* a = new EmbeddingSumAttrs{};
  ReadEmbeddingSumAttrs(ctx, a);
  return a;
}

void DeleteGpuEmbeddingSum(void* a) { delete static_cast<EmbeddingSumAttrs*>(a); }

void ComputeGpuEmbeddingSum(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& at = *static_cast<EmbeddingSumAttrs*>(attrs);
    EmbeddingSumInputs in;
    ReadEmbeddingSumInputs(ctx, at, &in);  // indices: host memory, checked here
    TensorPtr y = Output(ctx, 0, EmbeddingSumShape(in));
    if (in.rows * in.width == 0) return;
    std::vector<const float*> tables;
    for (const TensorPtr& t : in.tables) tables.push_back(FloatData(t.get()));
    bt_cuda_embedding_sum_args a{};
    a.rows = in.rows;
    a.width = in.width;
    a.num_terms = at.num_terms;
    a.has_norm = at.has_norm ? 1 : 0;
    a.eps = at.epsilon;
    a.tables_host = tables.data();
    a.table_rows_host = in.table_rows.data();
    a.row_ids_host = in.row_ids.data();
    if (at.has_norm) {
      a.gamma = FloatData(in.gamma.get());
      a.beta = FloatData(in.beta.get());
    }
    a.y = FloatData(y.get());
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_embedding_sum_workspace_bytes(&a, &ws_bytes), "embedding sum");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_embedding_sum(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr), "embedding sum");
    work.Finish();
  });
}

// ---- BtReorderCache ----

void* CreateGpuReorder(TF_OpKernelConstruction*) { return nullptr; }
void DeleteGpuReorder(void*) {}

void ComputeGpuReorder(void*, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    ReorderCacheInputs in;
    ReadReorderCacheInputs(ctx, &in);  // lengths and source rows: host memory, checked here
    TensorPtr lengths = OutputOf(ctx, 2, {in.batch}, TF_INT32);  // host memory
    bt_cuda_reorder_cache_args a{};
    a.num_layers = in.layers;
    a.batch = in.batch;
    a.kv_heads = in.kv_heads;
    a.capacity = in.capacity;
    a.head_dim = in.head_dim;
    a.key_cache = FloatData(in.key_cache.get());
    a.value_cache = FloatData(in.value_cache.get());
    a.lengths_host = in.lengths.empty() ? nullptr : in.lengths.data();
    a.source_rows_host = in.source_rows.empty() ? nullptr : in.source_rows.data();
    a.new_lengths_host = static_cast<int32_t*>(TF_TensorData(lengths.get()));
    size_t ws_bytes = 0;
    CheckCuda(bt_cuda_reorder_cache_workspace_bytes(&a, &ws_bytes), "reorder cache");
    TensorPtr ws = DeviceTemp(ctx, static_cast<int64_t>(ws_bytes));
    OrderedGpuWork work(TF_GetDeviceId(ctx));
    CheckCuda(bt_cuda_reorder_cache(work.context(), &a, TF_TensorData(ws.get()), ws_bytes, nullptr), "reorder cache");
    work.Finish();
    ForwardAsOutput(ctx, 0, in.key_cache.get());
    ForwardAsOutput(ctx, 1, in.value_cache.get());
  });
}

// `host_memory`: the op's arguments (inputs or outputs) the kernel reads or writes on the host.
void RegisterGraphGpuKernel(const char* op, void* (*create)(TF_OpKernelConstruction*),
                            void (*compute)(void*, TF_OpKernelContext*), void (*destroy)(void*), TF_Status* status,
                            std::initializer_list<const char*> host_memory) {
  TF_KernelBuilder* k = TF_NewKernelBuilder(op, "GPU", create, compute, destroy);
  for (const char* arg : host_memory) TF_KernelBuilder_HostMemory(k, arg);
  TF_RegisterKernelBuilder(op, k, status);
}

}  // namespace

void RegisterLayerNormGpu(TF_Status* status) {
  RegisterGraphGpuKernel(kLayerNormOp, &CreateLayerNormAttrs, &ComputeGpuLayerNorm, &DeleteLayerNormAttrs, status, {});
}

void RegisterEmbeddingSumGpu(TF_Status* status) {
  RegisterGraphGpuKernel(kEmbeddingSumOp, &CreateGpuEmbeddingSum, &ComputeGpuEmbeddingSum, &DeleteGpuEmbeddingSum,
                         status, {"indices"});
}

void RegisterReorderCacheGpu(TF_Status* status) {
  RegisterGraphGpuKernel(kReorderCacheOp, &CreateGpuReorder, &ComputeGpuReorder, &DeleteGpuReorder, status,
                         {"lengths", "source_rows", "lengths_out"});
}

}  // namespace bt_tf
