// Products on weights that are not float32 panels (templates instantiated per ISA):
//
//   c[M, N] = act(a[M, K] . W + bias) + residual      for a WeightView W
//
// The decoder reads a model's weights where they are: its own row-major float32
// [K][N] (no packed copy: each NR-wide column strip is streamed in place with
// row stride N), its transposed [N][K] form (an LM head tied to the word
// embeddings: dot products along K), or bfloat16 copies (half the bytes per
// token, which bounds decoding one token at a time) widened to float32 on load.
// Work is split over column blocks (and row blocks when M is large); each task
// streams its weight strip once per row block, as the packed GEMM does.
#ifndef BTK_GEMM_VIEW_GEMM_H_
#define BTK_GEMM_VIEW_GEMM_H_

#include <stdint.h>
#include <string.h>

#include "gemm_driver.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// float32 -> bfloat16, rounding to nearest even (NaN stays a quiet NaN).
static inline uint16_t to_bf16(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x0040u);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

static inline float from_bf16(uint16_t x) {
  const uint32_t bits = static_cast<uint32_t>(x) << 16;
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
}

template <class V, int MR, int NV>
struct ViewGemm {
  using F = typename V::F;
  using G = Gemm<V, MR, NV>;
  static constexpr int W = V::W;
  static constexpr int NR = NV * W;
  static constexpr int64_t KC = G::KC;
  static constexpr int64_t SMALL_M = G::SMALL_M_TILES * MR;
  static constexpr int64_t MC_MAX = G::MC_MAX;

  // ---- bfloat16 copies in the widened-on-load layout --------------------------------------------
  // bf16_panels: panel p holds [K][NR] (columns past N zero).
  static int64_t bf16_elements(int64_t k, int64_t n) { return ceil_div(n, NR) * k * NR; }

  /** Element (kk, j) of a [K, N] weight stored [K][N], or [N][K] when transposed. */
  static inline float weight_at(const float* w, int64_t k, int64_t n, bool transposed, int64_t kk, int64_t j) {
    return transposed ? w[j * k + kk] : w[kk * n + j];
  }

  static void pack_weight_bf16(const float* w, int64_t k, int64_t n, bool transposed, uint16_t* out) {
    for (int64_t p = 0; p < ceil_div(n, NR); ++p) {
      const int64_t col0 = p * NR, width = min_i64(NR, n - col0);
      uint16_t* panel = out + p * k * NR;
      for (int64_t kk = 0; kk < k; ++kk) {
        for (int64_t j = 0; j < width; ++j) panel[kk * NR + j] = to_bf16(weight_at(w, k, n, transposed, kk, col0 + j));
        for (int64_t j = width; j < NR; ++j) panel[kk * NR + j] = 0;
      }
    }
  }

  // ---- [K, N] weights: column strips ----------------------------------------------------------
  struct Strips {
    const float* f32;  // row-major [K][ld], in place
    int64_t ld;
    const uint16_t* bf16;  // or bf16 panels [K][NR]
  };

  template <int H, class BT>
  static inline void tile_rows(int64_t height, int64_t kc, const float* a_panel, const BT* b, int64_t b_step, float* c,
                               int64_t ldc, bool accumulate, const BT* prefetch) {
    if constexpr (H > 1) {
      if (height < H) {
        tile_rows<H - 1>(height, kc, a_panel, b, b_step, c, ldc, accumulate, prefetch);
        return;
      }
    }
    tile_kernel<V, H, NV>(kc, a_panel, MR, b, b_step, c, ldc, accumulate, prefetch);
  }

  // One output tile's share of K block [k0, k0 + kc) from column strip `col`.
  // A strip narrower than NR (the last of a row-major weight) is copied zero-padded
  // first: the micro-kernel reads NR columns, which past the last row would leave the array.
  static inline void strip_tile(const Strips& s, int64_t k, int64_t n, int64_t col, int64_t k0, int64_t kc,
                                const float* a_panel, float* c_tile, int64_t ldc, int64_t height, int64_t width,
                                bool first, float* edge_tile, float* edge_strip, bool prefetch_next) {
    float* target = width == NR ? c_tile : edge_tile;
    const int64_t target_ld = width == NR ? ldc : NR;
    const bool accumulate = width == NR && !first;
    if (s.bf16) {
      const uint16_t* b = s.bf16 + (col / NR) * k * NR + k0 * NR;
      const uint16_t* next = prefetch_next ? b + k * NR : nullptr;
      tile_rows<MR>(height, kc, a_panel, b, NR, target, target_ld, accumulate, next);
    } else if (width == NR) {
      const float* b = s.f32 + k0 * s.ld + col;
      const float* next = prefetch_next && col + 2 * NR <= n ? b + NR : nullptr;
      tile_rows<MR>(height, kc, a_panel, b, s.ld, target, target_ld, accumulate, next);
    } else {
      for (int64_t kk = 0; kk < kc; ++kk) {
        memcpy(edge_strip + kk * NR, s.f32 + (k0 + kk) * s.ld + col, static_cast<size_t>(width) * sizeof(float));
        for (int64_t j = width; j < NR; ++j) edge_strip[kk * NR + j] = 0.0f;
      }
      tile_rows<MR>(height, kc, a_panel, static_cast<const float*>(edge_strip), NR, target, target_ld, accumulate,
                    static_cast<const float*>(nullptr));
    }
    if (width != NR)
      for (int64_t r = 0; r < height; ++r)
        for (int64_t j = 0; j < width; ++j)
          c_tile[r * ldc + j] = first ? edge_tile[r * NR + j] : c_tile[r * ldc + j] + edge_tile[r * NR + j];
  }

  struct StripTask {
    const Strips* strips;
    int64_t m, k, n, row_block, col_block, col_blocks;
    const float* a;
    int64_t lda;
    float* c;
    int64_t ldc;
    const GemmEpilogue* epilogue;
    bool out_of_memory;
  };

  static void run_strip_block(StripTask& t, int64_t index, float* packed_a, float* edge_strip) {
    alignas(64) float edge_tile[MR * NR];
    const int64_t m0 = (index / t.col_blocks) * t.row_block, n0 = (index % t.col_blocks) * t.col_block;
    const int64_t rows = min_i64(t.row_block, t.m - m0), cols = min_i64(t.col_block, t.n - n0);
    const int64_t row_panels = ceil_div(rows, MR);
    if (rows <= SMALL_M) {
      // A packed for all of K once; each strip then streams from its first row to its last.
      for (int64_t k0 = 0; k0 < t.k; k0 += KC)
        G::pack_rows(t.a + m0 * t.lda, t.lda, rows, k0, min_i64(KC, t.k - k0), packed_a + k0 * row_panels * MR);
      for (int64_t j = 0; j < cols; j += NR) {
        const int64_t col = n0 + j, width = min_i64(NR, cols - j);
        for (int64_t k0 = 0; k0 < t.k; k0 += KC) {
          const int64_t kc = min_i64(KC, t.k - k0);
          for (int64_t i = 0; i < rows; i += MR) {
            const float* a_panel = packed_a + k0 * row_panels * MR + (i / MR) * kc * MR;
            strip_tile(*t.strips, t.k, t.n, col, k0, kc, a_panel, t.c + (m0 + i) * t.ldc + col, t.ldc,
                       min_i64(MR, rows - i), width, k0 == 0, edge_tile, edge_strip, i == 0 && j + NR < cols);
          }
        }
        if (t.k == 0)
          for (int64_t i = 0; i < rows; ++i) memset(t.c + (m0 + i) * t.ldc + col, 0, sizeof(float) * width);
        apply_epilogue<V>(t.c + m0 * t.ldc + col, t.ldc, rows, m0, col, width, *t.epilogue);
      }
      return;
    }
    for (int64_t k0 = 0; k0 < t.k; k0 += KC) {
      const int64_t kc = min_i64(KC, t.k - k0);
      G::pack_rows(t.a + m0 * t.lda, t.lda, rows, k0, kc, packed_a);
      for (int64_t j = 0; j < cols; j += NR) {
        const int64_t col = n0 + j, width = min_i64(NR, cols - j);
        for (int64_t i = 0; i < rows; i += MR)
          strip_tile(*t.strips, t.k, t.n, col, k0, kc, packed_a + (i / MR) * kc * MR, t.c + (m0 + i) * t.ldc + col,
                     t.ldc, min_i64(MR, rows - i), width, k0 == 0, edge_tile, edge_strip, false);
        if (k0 + kc == t.k) apply_epilogue<V>(t.c + m0 * t.ldc + col, t.ldc, rows, m0, col, width, *t.epilogue);
      }
    }
  }

  static bool gemm_strips(int64_t m, const float* a, int64_t lda, const Strips& strips, int64_t k, int64_t n, float* c,
                          int64_t ldc, const GemmEpilogue& epilogue) {
    const int64_t row_block = m <= SMALL_M ? m : round_up(ceil_div(m, ceil_div(m, MC_MAX)), MR);
    const int64_t row_blocks = ceil_div(m, row_block);
    const int64_t panels = ceil_div(n, NR);
    const int64_t col_block = G::panels_per_task_for_balance(row_blocks, &panels, 1, thread_count()) * NR;
    StripTask task{&strips, m, k, n, row_block, col_block, ceil_div(n, col_block), a, lda, c, ldc, &epilogue, false};
    if (k == 0) {
      for (int64_t i = 0; i < m; ++i) memset(c + i * ldc, 0, sizeof(float) * n);
      apply_epilogue<V>(c, ldc, m, 0, 0, n, epilogue);
      return true;
    }
    auto body = [&task](int64_t begin, int64_t end) {
      const int64_t packed_floats = task.row_block <= SMALL_M ? round_up(task.row_block, MR) * round_up(task.k, KC)
                                                              : round_up(task.row_block, MR) * KC;
      ScratchFloats packed_a(packed_floats + KC * NR);
      if (!packed_a.data) { task.out_of_memory = true; return; }
      for (int64_t index = begin; index < end; ++index) run_strip_block(task, index, packed_a.data, packed_a.data + packed_floats);
    };
    parallel_for_each(row_blocks * task.col_blocks, 1, body);
    return !task.out_of_memory;
  }

  // ---- [K, N] weights at few rows (decoding): K split, each part streamed front to back -----------
  // At a handful of rows the product is bound by reading the weight once. Column strips read
  // row after row N floats apart, a different page every row, which the hardware prefetchers do
  // not follow (measured: 4-7 GB/s of 15 GB/s here). Instead each thread takes a contiguous block
  // of rows of W and streams it in order (R rows side by side, each a sequential stream), adding
  // into its own partial [M, N] (kept in L2); the partials are then summed and the epilogue runs.
  static constexpr int64_t STREAM_MAX_ROWS = 8;
  static constexpr int64_t STREAM_MIN_K_PER_THREAD = 64;
#ifndef BTK_STREAM_PARTIAL_BYTES
#define BTK_STREAM_PARTIAL_BYTES (512 * 1024)
#endif

  template <int M, int R, class BT>
  static void stream_rows(const float* a, int64_t lda, const BT* w, int64_t ldw, int64_t k0, int64_t k1, int64_t n,
                          float* partial) {
    for (int64_t i = 0; i < M; ++i) memset(partial + i * n, 0, sizeof(float) * n);
    // Column chunks keep the partial's chunk ([M, chunk]) within kPartialBytes (in L2) while the
    // part's rows stream through it: swept over the whole width, an [8, 50257] partial (1.6 MB) left
    // L2 once per R rows. Narrower chunks cost more at one row (each row of W read in more pieces).
    const int64_t kChunk = max_i64(1024, BTK_STREAM_PARTIAL_BYTES / static_cast<int64_t>(sizeof(float) * M));
    for (int64_t j0 = 0; j0 < n; j0 += kChunk) {
      const int64_t j1 = min_i64(n, j0 + kChunk);
      int64_t kb = k0;
      for (; kb + R <= k1; kb += R) {
        // Scalars, broadcast inside the FMA (an embedded broadcast where the ISA has one): no register per (row, k).
        float av[M][R];
        for (int i = 0; i < M; ++i)
          for (int r = 0; r < R; ++r) av[i][r] = a[i * lda + kb + r];
        const BT* rows[R];
        for (int r = 0; r < R; ++r) rows[r] = w + (kb + r) * ldw;
        int64_t j = j0;
        for (; j + W <= j1; j += W) {
          F wv[R];
          for (int r = 0; r < R; ++r) {
            // The same columns of the next group's rows, into L2: at 8 rows the prefetchers alone
            // fall behind (a [3072, 768] product 0.56 -> 0.38 ms); at 1 row it costs nothing.
            __builtin_prefetch(rows[r] + j + R * ldw, 0, 2);
            wv[r] = load_b<V>(rows[r] + j);
          }
          for (int i = 0; i < M; ++i) {
            F acc = V::load(partial + i * n + j);
            for (int r = 0; r < R; ++r) acc = V::fmadd(V::set1(av[i][r]), wv[r], acc);
            V::store(partial + i * n + j, acc);
          }
        }
        for (; j < j1; ++j)
          for (int i = 0; i < M; ++i) {
            float sum = partial[i * n + j];
            for (int r = 0; r < R; ++r) sum += a[i * lda + kb + r] * scalar_of(rows[r][j]);
            partial[i * n + j] = sum;
          }
      }
      for (; kb < k1; ++kb)  // the last rows, one at a time
        for (int64_t j = j0; j < j1; ++j)
          for (int i = 0; i < M; ++i) partial[i * n + j] += a[i * lda + kb] * scalar_of(w[kb * ldw + j]);
    }
  }

  static inline float scalar_of(float x) { return x; }
  static inline float scalar_of(uint16_t x) { return from_bf16(x); }

  template <class BT>
  static bool gemm_streamed(int64_t m, const float* a, int64_t lda, const BT* w, int64_t ldw, int64_t k, int64_t n,
                            float* c, int64_t ldc, const GemmEpilogue& epilogue) {
    const int64_t parts = max_i64(1, min_i64(thread_count(), k / STREAM_MIN_K_PER_THREAD));
    ScratchFloats partials(parts * m * n);
    if (!partials.data) return false;
    auto body = [&](int64_t begin, int64_t end) {
      for (int64_t part = begin; part < end; ++part) {
        const int64_t k0 = part * k / parts, k1 = (part + 1) * k / parts;
        float* partial = partials.data + part * m * n;
        switch (m) {
#define BTK_STREAM_CASE(MM, RR) \
          case MM: stream_rows<MM, RR>(a, lda, w, ldw, k0, k1, n, partial); break;
          BTK_STREAM_CASE(1, 4) BTK_STREAM_CASE(2, 4) BTK_STREAM_CASE(3, 4) BTK_STREAM_CASE(4, 4)
          BTK_STREAM_CASE(5, 8) BTK_STREAM_CASE(6, 8) BTK_STREAM_CASE(7, 8) default: stream_rows<8, 8>(a, lda, w, ldw, k0, k1, n, partial);
#undef BTK_STREAM_CASE
        }
      }
    };
    parallel_for_each(parts, 1, body);
    // Sum the partials into c, then the epilogue, column blocks in parallel.
    constexpr int64_t kColumns = 512;
    auto reduce = [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        const int64_t j0 = block * kColumns, width = min_i64(kColumns, n - j0);
        for (int64_t i = 0; i < m; ++i) {
          float* dst = c + i * ldc + j0;
          memcpy(dst, partials.data + i * n + j0, sizeof(float) * width);
          for (int64_t part = 1; part < parts; ++part) {
            const float* src = partials.data + (part * m + i) * n + j0;
            int64_t j = 0;
            for (; j + W <= width; j += W) V::store(dst + j, V::add(V::load(dst + j), V::load(src + j)));
            for (; j < width; ++j) dst[j] += src[j];
          }
        }
        apply_epilogue<V>(c + j0, ldc, m, 0, j0, width, epilogue);
      }
    };
    parallel_for_each(ceil_div(n, kColumns), 1, reduce);
    return true;
  }

  // ---- [N, K] weights (transposed): dot products along K ---------------------------------------
  template <class BT>
  static inline F load_k(const BT* p, int64_t kk, int64_t k) {
    const int64_t left = k - kk;
    if constexpr (sizeof(BT) == sizeof(float)) {
      return left >= W ? V::load(reinterpret_cast<const float*>(p) + kk)
                       : V::load_partial(reinterpret_cast<const float*>(p) + kk, static_cast<int>(left));
    } else {
      return left >= W ? V::load_bf16(reinterpret_cast<const uint16_t*>(p) + kk)
                       : V::load_bf16_partial(reinterpret_cast<const uint16_t*>(p) + kk, static_cast<int>(left));
    }
  }

  // c[i][j] = sum_k a[i][k] w[j][k] for RM rows i and CN rows j of w: the CN weight rows are read
  // once for the RM rows (from L1 for the following row tiles), accumulators stay in registers.
  static constexpr int64_t kDotPrefetchFloats = 4096;

  template <int RM, int CN, class BT>
  static inline void dot_tile(int64_t k, const float* a, int64_t lda, const BT* w, int64_t ldw, float* c, int64_t ldc) {
    F acc[RM][CN];
#pragma GCC unroll 8
    for (int r = 0; r < RM; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < CN; ++j) acc[r][j] = V::zero();
    for (int64_t kk = 0; kk < k; kk += W) {
      F wv[CN];
#pragma GCC unroll 4
      for (int j = 0; j < CN; ++j) {
        // The weight rows stream from memory; at several rows of `a` there is enough arithmetic
        // between loads that the hardware prefetchers fall behind (measured at 8 rows, a [50257, 768]
        // head: 10.0 -> 6.9 ms, 15 -> 22 GB/s). 16 KiB ahead, into L2.
        __builtin_prefetch(w + j * ldw + kk + kDotPrefetchFloats, 0, 2);
        wv[j] = load_k(w + j * ldw, kk, k);
      }
#pragma GCC unroll 8
      for (int r = 0; r < RM; ++r) {
        const F av = load_k(a + r * lda, kk, k);
#pragma GCC unroll 4
        for (int j = 0; j < CN; ++j) acc[r][j] = V::fmadd(av, wv[j], acc[r][j]);
      }
    }
#pragma GCC unroll 8
    for (int r = 0; r < RM; ++r)
#pragma GCC unroll 4
      for (int j = 0; j < CN; ++j) c[r * ldc + j] = V::reduce_add(acc[r][j]);
  }

  template <int CN, class BT>
  static inline void dot_rows(int64_t m, int64_t k, const float* a, int64_t lda, const BT* w, int64_t ldw, float* c,
                              int64_t ldc) {
    int64_t i = 0;
    for (; i + 8 <= m; i += 8) dot_tile<8, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc);
    switch (m - i) {
      case 7: dot_tile<7, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 6: dot_tile<6, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 5: dot_tile<5, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 4: dot_tile<4, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 3: dot_tile<3, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 2: dot_tile<2, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      case 1: dot_tile<1, CN>(k, a + i * lda, lda, w, ldw, c + i * ldc, ldc); break;
      default: break;
    }
  }

  template <class BT>
  static bool gemm_dot(int64_t m, const float* a, int64_t lda, const BT* w, int64_t ldw, int64_t k, int64_t n, float* c,
                       int64_t ldc, const GemmEpilogue& epilogue) {
    constexpr int64_t kColumns = 64;  // columns (rows of w) per task
    auto body = [&](int64_t begin, int64_t end) {
      for (int64_t block = begin; block < end; ++block) {
        const int64_t n0 = block * kColumns, n1 = min_i64(n, n0 + kColumns);
        int64_t j = n0;
        for (; j + 2 <= n1; j += 2) dot_rows<2>(m, k, a, lda, w + j * ldw, ldw, c + j, ldc);
        if (j < n1) dot_rows<1>(m, k, a, lda, w + j * ldw, ldw, c + j, ldc);
        apply_epilogue<V>(c + n0, ldc, m, 0, n0, n1 - n0, epilogue);
      }
    };
    parallel_for_each(ceil_div(n, kColumns), 1, body);
    return true;
  }

  // ---- entry ----------------------------------------------------------------------------------
  static bool gemm_view(int64_t m, const float* a, int64_t lda, const WeightView& w, float* c, int64_t ldc,
                        const GemmEpilogue& epilogue) {
    if (m <= 0 || w.n <= 0) return true;
    switch (w.kind) {
      case WeightView::f32_kn: {
        if (m <= STREAM_MAX_ROWS) return gemm_streamed(m, a, lda, w.data, w.ld, w.k, w.n, c, ldc, epilogue);
        const Strips strips{w.data, w.ld, nullptr};
        return gemm_strips(m, a, lda, strips, w.k, w.n, c, ldc, epilogue);
      }
      case WeightView::f32_nk:
        return gemm_dot(m, a, lda, w.data, w.ld, w.k, w.n, c, ldc, epilogue);
      case WeightView::prepacked: {
        const PackedWeight& p = *w.packed;
        if (p.format == WeightFormat::f32_panels) return G::gemm(m, a, lda, p, c, ldc, epilogue);
        const uint16_t* bf16 = reinterpret_cast<const uint16_t*>(p.panels);
        const Strips strips{nullptr, 0, bf16};
        return gemm_strips(m, a, lda, strips, p.rows, p.cols, c, ldc, epilogue);
      }
    }
    return false;
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_GEMM_VIEW_GEMM_H_
