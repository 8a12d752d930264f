#include "graph_op_inputs.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "../../shared/problem_checks.h"

namespace bt_tf {
namespace {

int64_t CheckedCount(const std::vector<int64_t>& shape, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (!bt_checks::CheckedMul(n, d, &n)) throw InvalidArgument{what + " has too many elements"};
  }
  return n;
}

std::string ShapesString(const std::vector<std::vector<int64_t>>& shapes) {
  std::string s;
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? ", " : "") + ShapeString(shapes[i]);
  return s;
}

// The numpy broadcast of the shapes (aligned at their last axis), or an error naming them.
std::vector<int64_t> BroadcastShapes(const std::vector<std::vector<int64_t>>& shapes) {
  size_t rank = 0;
  for (const auto& s : shapes) rank = std::max(rank, s.size());
  std::vector<int64_t> out(rank, 1);
  for (const auto& s : shapes) {
    for (size_t d = 0; d < s.size(); ++d) {
      int64_t& o = out[rank - s.size() + d];
      if (s[d] == o || s[d] == 1) continue;
      if (o != 1) {
        throw InvalidArgument{"the index shapes and constant row shapes " + ShapesString(shapes) + " do not broadcast"};
      }
      o = s[d];
    }
  }
  return out;
}

// Element strides of `shape` seen as broadcast to `out` (0 along broadcast axes).
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[out.size() - shape.size() + i] = shape[i] == 1 ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

}  // namespace

// ---- BtLayerNorm ----

void ReadLayerNormInputs(TF_OpKernelContext* ctx, LayerNormInputs* in) {
  in->x = Input(ctx, 0, "x", TF_FLOAT);
  in->gamma = Input(ctx, 1, "gamma", TF_FLOAT);
  in->beta = Input(ctx, 2, "beta", TF_FLOAT);
  const auto shape = ShapeOf(in->x.get());
  if (shape.empty()) throw InvalidArgument{"x must have at least one axis, got a scalar"};
  in->width = shape.back();
  RequireShape(in->gamma.get(), {in->width}, "gamma");
  RequireShape(in->beta.get(), {in->width}, "beta");
  in->rows = in->width > 0 ? NumElements(shape) / in->width : 0;
}

// ---- BtEmbeddingSum ----

void* CreateLayerNormAttrs(TF_OpKernelConstruction* ctx) {
  AttrReader r{ctx};
  auto* a = new LayerNormAttrs{r.Float("epsilon")};
  if (r.ok && !(std::isfinite(a->epsilon) && a->epsilon >= 0)) FailConstruction(ctx, "epsilon must be finite and non-negative");
  return a;
}

void DeleteLayerNormAttrs(void* attrs) { delete static_cast<LayerNormAttrs*>(attrs); }

void ReadEmbeddingSumAttrs(TF_OpKernelConstruction* ctx, EmbeddingSumAttrs* a) {
  AttrReader r{ctx};
  a->num_terms = r.Int("N");
  if (r.ok && a->num_terms < 1) {
    FailConstruction(ctx, "N must be at least 1");
    return;
  }
  a->lookups = r.BoolList("lookups", a->num_terms);
  a->has_norm = r.Bool("has_norm");
  a->epsilon = r.Float("epsilon");
  if (!r.ok) return;
  if (!(std::isfinite(a->epsilon) && a->epsilon >= 0)) {
    FailConstruction(ctx, "epsilon must be finite and non-negative");
    return;
  }
  bool any_lookup = false;
  for (bool lookup : a->lookups) any_lookup = any_lookup || lookup;
  if (!any_lookup) FailConstruction(ctx, "lookups must include at least one lookup term");
}

void ReadEmbeddingSumInputs(TF_OpKernelContext* ctx, const EmbeddingSumAttrs& a, EmbeddingSumInputs* in) {
  const int n = a.num_terms;
  if (TF_NumInputs(ctx) != 2 + 2 * n) throw InvalidArgument{"expected 2 + 2 N inputs"};
  in->gamma = Input(ctx, 0, "gamma", TF_FLOAT);
  in->beta = Input(ctx, 1, "beta", TF_FLOAT);
  std::vector<TensorPtr> indices(static_cast<size_t>(n));
  std::vector<std::vector<int64_t>> row_shapes(static_cast<size_t>(n));
  in->tables.resize(static_cast<size_t>(n));
  in->table_rows.assign(static_cast<size_t>(n), 0);
  for (int k = 0; k < n; ++k) {
    const std::string term = "term " + std::to_string(k);
    TensorPtr& table = in->tables[static_cast<size_t>(k)];
    table = Input(ctx, 2 + k, "tables", TF_FLOAT);
    const auto shape = ShapeOf(table.get());
    const bool lookup = a.lookups[static_cast<size_t>(k)];
    if (lookup && shape.size() != 2) {
      throw InvalidArgument{term + ": a lookup table must have rank 2 [rows, W], got " + ShapeString(shape)};
    }
    if (shape.empty()) {
      throw InvalidArgument{term + ": a constant table must have rank at least 1 [..., W], got a scalar"};
    }
    if (k == 0) in->width = shape.back();
    if (shape.back() != in->width) {
      throw InvalidArgument{"every table must have the same width W = " + std::to_string(in->width) + ", but " + term +
                            "'s has shape " + ShapeString(shape)};
    }
    if (in->width < 1) throw InvalidArgument{"the tables must have a width W of at least 1"};
    const std::vector<int64_t> leading(shape.begin(), shape.end() - 1);
    in->table_rows[static_cast<size_t>(k)] = CheckedCount(leading, term + "'s table");
    if (!lookup && in->table_rows[static_cast<size_t>(k)] > INT32_MAX) {
      throw InvalidArgument{term + ": a constant table must have at most 2^31 - 1 rows"};
    }
    if (lookup) {
      indices[static_cast<size_t>(k)] = Input(ctx, 2 + n + k, "indices", TF_INT32);
      row_shapes[static_cast<size_t>(k)] = ShapeOf(indices[static_cast<size_t>(k)].get());
    } else {
      row_shapes[static_cast<size_t>(k)] = leading;
    }
  }
  if (a.has_norm) {
    RequireShape(in->gamma.get(), {in->width}, "gamma");
    RequireShape(in->beta.get(), {in->width}, "beta");
  }
  in->row_shape = BroadcastShapes(row_shapes);
  in->rows = CheckedCount(in->row_shape, "the result");
  int64_t elements = 0;
  if (!bt_checks::CheckedMul(in->rows, in->width, &elements) || elements > INT64_MAX / 8) {
    throw InvalidArgument{"the result has too many elements"};
  }
  // Every index is checked (those a broadcast over an empty axis never reads too, as a gather would).
  std::vector<std::vector<int32_t>> values(static_cast<size_t>(n));
  for (int k = 0; k < n; ++k) {
    if (!a.lookups[static_cast<size_t>(k)]) continue;
    values[static_cast<size_t>(k)] = Int32Values(indices[static_cast<size_t>(k)].get());
    const int64_t rows = in->table_rows[static_cast<size_t>(k)];
    const auto& v = values[static_cast<size_t>(k)];
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] < 0 || v[i] >= rows) {
        throw InvalidArgument{"term " + std::to_string(k) + ": index " + std::to_string(v[i]) + " (indices[" +
                              std::to_string(i) + "]) is outside the table's " + std::to_string(rows) + " rows [0, " +
                              std::to_string(rows) + ")"};
      }
    }
  }
  if (in->rows > INT32_MAX) throw InvalidArgument{"the result has more than 2^31 - 1 rows"};
  // One table row per term and output row: walk R (last axis fastest), each term's offset in step.
  in->row_ids.assign(static_cast<size_t>(n * in->rows), 0);
  const size_t rank = in->row_shape.size();
  for (int k = 0; k < n; ++k) {
    const auto strides = BroadcastStrides(row_shapes[static_cast<size_t>(k)], in->row_shape);
    const bool lookup = a.lookups[static_cast<size_t>(k)];
    const int32_t* ids = lookup ? values[static_cast<size_t>(k)].data() : nullptr;
    int32_t* out = in->row_ids.data() + static_cast<int64_t>(k) * in->rows;
    std::vector<int64_t> position(rank, 0);
    int64_t source = 0;
    for (int64_t r = 0; r < in->rows; ++r) {
      out[r] = lookup ? ids[source] : static_cast<int32_t>(source);
      for (size_t d = rank; d-- > 0;) {
        ++position[d];
        source += strides[d];
        if (position[d] < in->row_shape[d]) break;
        source -= strides[d] * position[d];
        position[d] = 0;
      }
    }
  }
}

std::vector<int64_t> EmbeddingSumShape(const EmbeddingSumInputs& in) {
  std::vector<int64_t> shape = in.row_shape;
  shape.push_back(in.width);
  return shape;
}

}  // namespace bt_tf
