// Cache-blocked GEMM on a pre-packed weight (templates instantiated per ISA):
//
//   c[M, N] = act(a[M, K] . w[K, N] + bias) + residual
//
// The rows of `a` are first packed, once for the whole call, into k-major
// MR-row panels (row blocks of up to STREAM_ROWS rows, every K block; the K
// blocks and row blocks split over the threads). Then (row block x column
// block) tasks run on the thread pool: each weight panel of the task's column
// block is read once from start to end, one contiguous stream, meeting every
// row tile of the block as it goes (KC x NR slices from L2 into L1), its output
// tiles finished before the next panel (or, when the block's packed A is too
// big for L2, K blocks outermost: see PANEL_STREAM_A_BYTES). The epilogue runs
// on each output tile right after its last K block.
//
// Packing A once per call, not once per task, and streaming each panel across
// up to 576 rows (not 144 with the K blocks outermost) measured 11-19% faster
// at 128-512 rows (BERT and T5 layer shapes on 2 Sapphire Rapids cores), and
// the same at 1024.
#ifndef BTK_GEMM_GEMM_DRIVER_H_
#define BTK_GEMM_GEMM_DRIVER_H_

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../kernel_table.h"
#include "../scratch.h"
#include "../simd/vector_math.h"
#include "../thread_pool.h"
#include "pack_transposed.h"
#include "tile_kernel.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// bias, activation and residual over rows x cols of c (cols starting at col0).
template <class V>
static inline void apply_epilogue(float* c, int64_t ldc, int64_t rows, int64_t row0, int64_t col0, int64_t cols,
                                  const GemmEpilogue& epilogue) {
  using F = typename V::F;
  constexpr int W = V::W;
  if (!epilogue.bias && epilogue.activation == BTK_ACTIVATION_NONE && !epilogue.residual) return;
  for (int64_t i = 0; i < rows; ++i) {
    float* c_row = c + i * ldc;
    const float* residual_row = epilogue.residual ? epilogue.residual + (row0 + i) * epilogue.residual_ld + col0 : nullptr;
    for (int64_t j = 0; j < cols; j += W) {
      const int n = static_cast<int>(min_i64(W, cols - j));
      F x = n == W ? V::load(c_row + j) : V::load_partial(c_row + j, n);
      if (epilogue.bias) x = V::add(x, n == W ? V::load(epilogue.bias + col0 + j) : V::load_partial(epilogue.bias + col0 + j, n));
      x = vactivate<V>(x, epilogue.activation);
      if (residual_row) x = V::add(x, n == W ? V::load(residual_row + j) : V::load_partial(residual_row + j, n));
      if (n == W) V::store(c_row + j, x); else V::store_partial(c_row + j, x, n);
    }
  }
}

template <class V, int MR, int NV>
struct Gemm {
  static constexpr int NR = NV * V::W;
  static constexpr int64_t KC = 256;              // K block: a KC x NR weight slice is 32-48 KiB
  static constexpr int64_t MC_MAX = MR * (144 / MR);  // row block of the view products (view_gemm.h)
  static constexpr int64_t STREAM_ROWS = MR * (576 / MR);  // row block of this GEMM: a panel streams across them
  static constexpr int64_t MAX_PANELS_PER_TASK = 8;  // column block per task: up to 8 weight panels

  static void pack_weight(const float* w, int64_t rows, int64_t cols, float* panels) {
    const int64_t count = ceil_div(cols, NR);
    for (int64_t p = 0; p < count; ++p) {
      const int64_t col0 = p * NR, width = min_i64(NR, cols - col0);
      float* panel = panels + p * rows * NR;
      for (int64_t k = 0; k < rows; ++k) {
        memcpy(panel + k * NR, w + k * cols + col0, static_cast<size_t>(width) * sizeof(float));
        for (int64_t j = width; j < NR; ++j) panel[k * NR + j] = 0.0f;
      }
    }
  }

  // rows x kc of a (from row0, column k0) into k-major panels of MR rows, zero padded.
  static void pack_rows(const float* a, int64_t lda, int64_t rows, int64_t k0, int64_t kc, float* packed) {
    for (int64_t p = 0; p < ceil_div(rows, MR); ++p)
      pack_transposed(a + p * MR * lda + k0, lda, min_i64(MR, rows - p * MR), kc, 1.0f, packed + p * kc * MR, MR);
  }

  // One product of a (possibly grouped) call: c = epilogue(a . w).
  struct Product {
    const PackedWeight* w;
    float* c;
    const GemmEpilogue* epilogue;
    int64_t col_block_count, first_task;
  };

  struct Task {
    int64_t m, k, row_block, col_block;
    const float* a;
    int64_t lda, ldc;
    const Product* products;
    int product_count;
    // A packed for every K block: row block r at packed_a + r * row_block * round_up(k, KC).
    const float* packed_a;
  };

  // The micro-kernel with exactly `height` (1..MR) rows: a partial row tile
  // (M not a multiple of MR, e.g. a 20-token sentence) costs only its rows.
  template <int H>
  static inline void tile_rows(int64_t height, int64_t kc, const float* a_panel, const float* w_slice, float* c,
                               int64_t ldc, bool accumulate, const float* prefetch) {
    if constexpr (H > 1) {
      if (height < H) {
        tile_rows<H - 1>(height, kc, a_panel, w_slice, c, ldc, accumulate, prefetch);
        return;
      }
    }
    tile_kernel<V, H, NV>(kc, a_panel, MR, w_slice, NR, c, ldc, accumulate, prefetch);
  }

  // One output tile's contribution from one K block: full-width tiles go
  // straight to c, narrower ones through an NR-wide scratch tile.
  static inline void accumulate_tile(int64_t kc, const float* a_panel, const float* w_slice, float* c_tile, int64_t ldc,
                                     int64_t height, int64_t width, bool first, float* edge_tile,
                                     const float* prefetch = nullptr) {
    if (width == NR) {
      tile_rows<MR>(height, kc, a_panel, w_slice, c_tile, ldc, !first, prefetch);
      return;
    }
    tile_rows<MR>(height, kc, a_panel, w_slice, edge_tile, NR, false, prefetch);
    for (int64_t r = 0; r < height; ++r)
      for (int64_t s = 0; s < width; ++s)
        c_tile[r * ldc + s] = first ? edge_tile[r * NR + s] : c_tile[r * ldc + s] + edge_tile[r * NR + s];
  }

  // Row tiles up to which the view products (view_gemm.h, bf16_dot_gemm.h) stream each weight panel once.
  static constexpr int64_t SMALL_M_TILES = 6;

  // Packed A of a task's row block up to this size stays in L2 for the whole task:
  // each weight panel of the column block is then read once from start to end,
  // one contiguous stream, against all the block's rows (with the K blocks
  // outermost the task would hop between panels every KC rows and the hardware
  // prefetchers restart on each hop). Beyond it (T5's 2048-wide FFN output at
  // 512 rows: 4 MiB of A) that order re-reads all of A from L3 for every panel,
  // so the K blocks go outermost and one rows x KC block of A stays in L2 while
  // every panel streams its slice past it: 8% faster at [512, 2048] x [2048,
  // 512] on 2 Sapphire Rapids cores (half their 2 MiB L2).
  static constexpr int64_t PANEL_STREAM_A_BYTES = int64_t{1} << 20;

  static void run_block_tiles(Task& t, const Product& p, int64_t m0, int64_t n0, int64_t rows, int64_t cols,
                              const float* packed_a) {
    alignas(64) float edge_tile[MR * NR];
    const int64_t row_panels = ceil_div(rows, MR);
    // Every row tile of the block against one KC slice of one panel.
    auto slice_across_rows = [&](int64_t j, int64_t k0) {
      const int64_t col = n0 + j, width = min_i64(NR, cols - j);
      const float* panel = p.w->panels + (col / NR) * t.k * NR;
      const int64_t kc = min_i64(KC, t.k - k0);
      const bool first = k0 == 0, last = k0 + kc == t.k;
      for (int64_t i = 0; i < rows; i += MR) {
        const int64_t height = min_i64(MR, rows - i);
        float* c_tile = p.c + (m0 + i) * t.ldc + col;
        const float* a_panel = packed_a + k0 * row_panels * MR + (i / MR) * kc * MR;
        // The first row tile also pulls the same rows of the next panel towards L2.
        const float* prefetch = i == 0 && j + NR < cols ? panel + t.k * NR + k0 * NR : nullptr;
        accumulate_tile(kc, a_panel, panel + k0 * NR, c_tile, t.ldc, height, width, first, edge_tile, prefetch);
        if (last) apply_epilogue<V>(c_tile, t.ldc, height, m0 + i, col, width, *p.epilogue);
      }
    };
    if (rows * t.k * static_cast<int64_t>(sizeof(float)) <= PANEL_STREAM_A_BYTES) {
      for (int64_t j = 0; j < cols; j += NR)
        for (int64_t k0 = 0; k0 < t.k; k0 += KC) slice_across_rows(j, k0);
    } else {
      for (int64_t k0 = 0; k0 < t.k; k0 += KC)
        for (int64_t j = 0; j < cols; j += NR) slice_across_rows(j, k0);
    }
  }

  static void run_block(Task& t, int64_t task_index) {
    int g = 0;
    while (g + 1 < t.product_count && task_index >= t.products[g + 1].first_task) ++g;
    const Product& p = t.products[g];
    const int64_t local = task_index - p.first_task;
    const int64_t row_block_index = local / p.col_block_count;
    const int64_t m0 = row_block_index * t.row_block;
    const int64_t n0 = (local % p.col_block_count) * t.col_block;
    const int64_t rows = min_i64(t.row_block, t.m - m0), cols = min_i64(t.col_block, p.w->cols - n0);
    run_block_tiles(t, p, m0, n0, rows, cols, t.packed_a + row_block_index * t.row_block * round_up(t.k, KC));
  }

  // Weight panels per task: the widest (fewest A repacks) that splits the work
  // most evenly over the threads; with few row blocks (small M, the encoder's
  // case) narrower column blocks are what keeps every thread busy. A task's
  // cost is its panel count, so efficiency is the total work over what the
  // threads could do in the rounds the widest task needs (a split of 8 panels
  // into 7 + 1 counts as 57%, not as two equal tasks).
  static int64_t panels_per_task_for_balance(int64_t row_blocks, const int64_t* panels, int groups, int threads) {
    int64_t best = MAX_PANELS_PER_TASK, total_panels = 0;
    for (int g = 0; g < groups; ++g) total_panels += panels[g];
    double best_efficiency = -1.0;
    for (int64_t candidate = MAX_PANELS_PER_TASK; candidate >= 1; --candidate) {
      int64_t tasks = 0;
      for (int g = 0; g < groups; ++g) tasks += row_blocks * ceil_div(panels[g], candidate);
      const double rounds = static_cast<double>(ceil_div(tasks, threads));
      const double efficiency = static_cast<double>(row_blocks * total_panels) / (threads * rounds * candidate);
      if (efficiency > best_efficiency + 0.02) {
        best = candidate;
        best_efficiency = efficiency;
      }
    }
    return best;
  }

  // Several products of the same rows (e.g. separate Q, K and V weights, all
  // with k = w[g]->rows) in one parallel region: c[g] = epilogue[g](a . w[g]).
  static bool gemm_group(int64_t m, const float* a, int64_t lda, int groups, const PackedWeight* const* w,
                         float* const* c, int64_t ldc, const GemmEpilogue* const* epilogues) {
    constexpr int kMaxGroups = 4;
    if (m <= 0 || groups <= 0) return true;
    if (groups > kMaxGroups) {
      for (int g = 0; g < groups; g += kMaxGroups) {
        const int count = groups - g < kMaxGroups ? groups - g : kMaxGroups;
        if (!gemm_group(m, a, lda, count, w + g, c + g, ldc, epilogues + g)) return false;
      }
      return true;
    }
    const int64_t k = w[0]->rows;
    if (k == 0) {
      for (int g = 0; g < groups; ++g) {
        for (int64_t i = 0; i < m; ++i) memset(c[g] + i * ldc, 0, static_cast<size_t>(w[g]->cols) * sizeof(float));
        apply_epilogue<V>(c[g], ldc, m, 0, 0, w[g]->cols, *epilogues[g]);
      }
      return true;
    }
    // Even row blocks, as few as keep them <= STREAM_ROWS.
    const int64_t row_block = round_up(ceil_div(m, ceil_div(m, STREAM_ROWS)), MR);
    const int64_t row_blocks = ceil_div(m, row_block);
    int64_t panels[kMaxGroups];
    for (int g = 0; g < groups; ++g) panels[g] = ceil_div(w[g]->cols, NR);
    const int64_t col_block = panels_per_task_for_balance(row_blocks, panels, groups, thread_count()) * NR;
    Product products[kMaxGroups];
    int64_t task_count = 0;
    for (int g = 0; g < groups; ++g) {
      products[g] = Product{w[g], c[g], epilogues[g], ceil_div(w[g]->cols, col_block), task_count};
      task_count += row_blocks * products[g].col_block_count;
    }
    // A, packed once for every task: its (row block, K block) pieces split over the threads.
    const int64_t k_padded = round_up(k, KC), k_blocks = ceil_div(k, KC);
    ScratchFloats packed_a(row_blocks * row_block * k_padded);
    if (!packed_a.data) return false;
    auto pack = [&](int64_t begin, int64_t end) {
      for (int64_t piece = begin; piece < end; ++piece) {
        const int64_t r = piece / k_blocks, k0 = (piece % k_blocks) * KC;
        const int64_t m0 = r * row_block, rows = min_i64(row_block, m - m0);
        pack_rows(a + m0 * lda, lda, rows, k0, min_i64(KC, k - k0),
                  packed_a.data + r * row_block * k_padded + k0 * ceil_div(rows, MR) * MR);
      }
    };
    parallel_for_each(row_blocks * k_blocks, 1, pack);
    Task task{m, k, row_block, col_block, a, lda, ldc, products, groups, packed_a.data};
    auto body = [&task](int64_t begin, int64_t end) {
      for (int64_t index = begin; index < end; ++index) run_block(task, index);
    };
    parallel_for_each(task_count, 1, body);
    return true;
  }

  static bool gemm(int64_t m, const float* a, int64_t lda, const PackedWeight& w, float* c, int64_t ldc,
                   const GemmEpilogue& epilogue) {
    if (m <= 0 || w.cols <= 0) return true;
    const PackedWeight* weights[1] = {&w};
    float* outputs[1] = {c};
    const GemmEpilogue* epilogues[1] = {&epilogue};
    return gemm_group(m, a, lda, 1, weights, outputs, ldc, epilogues);
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_GEMM_GEMM_DRIVER_H_
