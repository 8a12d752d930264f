// TensorFlow ops BtLayerNorm and BtEmbeddingSum, the graph ops the rewriting
// pass emits (a standalone LayerNorm; BERT-style embeddings: a sum of table
// lookups and constant terms, then optionally a LayerNorm): their definitions
// and CPU kernels. Inputs, attributes and outputs mirror the tfjs kernels of
// the same names (read and checked in graph_op_inputs.cc). The math is the
// portable kernels' (src/portable/layer_norm.ts, embedding_sum.ts): terms added
// in order in float32, LayerNorm with the biased variance, its statistics
// accumulated in double.
#include <cmath>

#include "graph_op_inputs.h"
#include "ops_registry.h"
#include "tensorflow/c/ops.h"
#include "tf_helpers.h"

namespace bt_tf {
namespace {

// y = (x - mean) / sqrt(var + eps) * gamma + beta over one row of `width`; y may be x.
void LayerNormRow(const float* x, int64_t width, const float* gamma, const float* beta, float eps, float* y) {
  double sum = 0;
  for (int64_t j = 0; j < width; ++j) sum += x[j];
  const double mean = sum / static_cast<double>(width);
  double squares = 0;
  for (int64_t j = 0; j < width; ++j) {
    const double d = x[j] - mean;
    squares += d * d;
  }
  const double inv = 1.0 / std::sqrt(squares / static_cast<double>(width) + static_cast<double>(eps));
  for (int64_t j = 0; j < width; ++j) y[j] = static_cast<float>((x[j] - mean) * inv * gamma[j] + beta[j]);
}

// ---- BtLayerNorm ----

void ComputeLayerNorm(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    LayerNormInputs in;
    ReadLayerNormInputs(ctx, &in);
    TensorPtr y = Output(ctx, 0, ShapeOf(in.x.get()));
    if (in.rows * in.width == 0) return;
    const float eps = static_cast<const LayerNormAttrs*>(attrs)->epsilon;
    const float* x = FloatData(in.x.get());
    const float* gamma = FloatData(in.gamma.get());
    const float* beta = FloatData(in.beta.get());
    float* out = FloatData(y.get());
    for (int64_t r = 0; r < in.rows; ++r) {
      LayerNormRow(x + r * in.width, in.width, gamma, beta, eps, out + r * in.width);
    }
  });
}

// ---- BtEmbeddingSum ----

void* CreateEmbeddingSum(TF_OpKernelConstruction* ctx) {
  auto* a = new EmbeddingSumAttrs{};
  ReadEmbeddingSumAttrs(ctx, a);
  return a;
}

void DeleteEmbeddingSum(void* a) { delete static_cast<EmbeddingSumAttrs*>(a); }

void ComputeEmbeddingSum(void* attrs, TF_OpKernelContext* ctx) {
  GuardedCompute(ctx, [&] {
    const auto& a = *static_cast<EmbeddingSumAttrs*>(attrs);
    EmbeddingSumInputs in;
    ReadEmbeddingSumInputs(ctx, a, &in);
    TensorPtr y = Output(ctx, 0, EmbeddingSumShape(in));
    if (in.rows * in.width == 0) return;
    const int64_t w = in.width;
    float* out = FloatData(y.get());
    for (int64_t r = 0; r < in.rows; ++r) {
      float* row = out + r * w;
      const float* first = FloatData(in.tables[0].get()) + int64_t{in.row_ids[static_cast<size_t>(r)]} * w;
      for (int64_t j = 0; j < w; ++j) row[j] = first[j];
      for (int k = 1; k < a.num_terms; ++k) {
        const float* from = FloatData(in.tables[static_cast<size_t>(k)].get()) +
                            int64_t{in.row_ids[static_cast<size_t>(k * in.rows + r)]} * w;
        for (int64_t j = 0; j < w; ++j) row[j] += from[j];
      }
      if (a.has_norm) LayerNormRow(row, w, FloatData(in.gamma.get()), FloatData(in.beta.get()), a.epsilon, row);
    }
  });
}

}  // namespace

void DefineLayerNorm(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kLayerNormOp);
  TF_OpDefinitionBuilderAddInput(b, "x: float");
  TF_OpDefinitionBuilderAddInput(b, "gamma: float");
  TF_OpDefinitionBuilderAddInput(b, "beta: float");
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  TF_OpDefinitionBuilderAddAttr(b, "epsilon: float");
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void DefineEmbeddingSum(TF_Status* status) {
  TF_OpDefinitionBuilder* b = TF_NewOpDefinitionBuilder(kEmbeddingSumOp);
  for (const char* input : {"gamma: float", "beta: float", "tables: N * float", "indices: N * int32"}) {
    TF_OpDefinitionBuilderAddInput(b, input);
  }
  TF_OpDefinitionBuilderAddOutput(b, "y: float");
  for (const char* attr : {"N: int >= 1", "lookups: list(bool)", "has_norm: bool", "epsilon: float"}) {
    TF_OpDefinitionBuilderAddAttr(b, attr);
  }
  TF_OpDefinitionBuilderSetShapeInferenceFunction(b, &UnknownShapes);
  TF_RegisterOpDefinition(b, status);
}

void RegisterLayerNormCpu(TF_Status* status) {
  TF_KernelBuilder* k =
      TF_NewKernelBuilder(kLayerNormOp, "CPU", &CreateLayerNormAttrs, &ComputeLayerNorm, &DeleteLayerNormAttrs);
  TF_RegisterKernelBuilder(kLayerNormOp, k, status);
}

void RegisterEmbeddingSumCpu(TF_Status* status) {
  TF_KernelBuilder* k =
      TF_NewKernelBuilder(kEmbeddingSumOp, "CPU", &CreateEmbeddingSum, &ComputeEmbeddingSum, &DeleteEmbeddingSum);
  TF_RegisterKernelBuilder(kEmbeddingSumOp, k, status);
}

}  // namespace bt_tf
