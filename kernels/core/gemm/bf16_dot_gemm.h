// bfloat16 products on AVX512-BF16 (vdpbf16ps): included only by
// isa/kernels_avx512_bf16.cc, compiled with -mavx512bf16.
//
// vdpbf16ps multiplies pairs of bfloat16 and adds both products to a float32
// lane, so weights are packed with pairs of consecutive k next to each other:
// column panels [ceil(K/2)][NR][2] (a weight stored transposed, [N][K], is
// transposed as it is packed). The activations are rounded to bfloat16 (nearest
// even) when they are packed; products accumulate in float32. At up to
// EXACT_ROWS rows (decoding steps) the activations stay float32 instead: the
// weight pairs are widened to float32 in registers (a shift and a mask) and
// multiplied with FMAs, twice the arithmetic of vdpbf16ps, which a step bound
// by reading the weights does not notice, and only the weights are rounded.
#ifndef BTK_GEMM_BF16_DOT_GEMM_H_
#define BTK_GEMM_BF16_DOT_GEMM_H_

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "view_gemm.h"

namespace btk {
namespace {  // internal linkage: only the AVX512-BF16 translation unit includes this

template <int MR, int NV>
struct Bf16DotGemm {
  using V = Avx512;
  using Fallback = ViewGemm<V, MR, NV>;
  using G = Gemm<V, MR, NV>;
  static constexpr int W = 16;
  static constexpr int NR = NV * W;
  static constexpr int64_t KC = 256;  // k values per block (even)
  static constexpr int64_t SMALL_M = G::SMALL_M_TILES * MR;
  static constexpr int64_t MC_MAX = G::MC_MAX;
  static constexpr int64_t EXACT_ROWS = 8;

  static int64_t bf16_elements(int64_t k, int64_t n) { return ceil_div(n, NR) * round_up(k, 2) * NR; }

  static void pack_weight_bf16(const float* w, int64_t k, int64_t n, bool transposed, uint16_t* out) {
    const int64_t pairs = ceil_div(k, 2);
    for (int64_t p = 0; p < ceil_div(n, NR); ++p) {
      const int64_t col0 = p * NR, width = min_i64(NR, n - col0);
      uint16_t* panel = out + p * pairs * NR * 2;
      for (int64_t kp = 0; kp < pairs; ++kp)
        for (int64_t j = 0; j < NR; ++j)
          for (int64_t h = 0; h < 2; ++h) {
            const int64_t kk = 2 * kp + h;
            panel[(kp * NR + j) * 2 + h] = j < width && kk < k ? to_bf16(Fallback::weight_at(w, k, n, transposed, kk, col0 + j)) : 0;
          }
    }
  }

  // rows x [k0, k0 + kc) of a as bf16 pairs, k-pair major: panel[kp * MR + i] (zero padded).
  static void pack_pairs(const float* a, int64_t lda, int64_t rows, int64_t k0, int64_t kc, int64_t k, uint32_t* packed) {
    const int64_t pairs = ceil_div(kc, 2);
    for (int64_t p = 0; p < ceil_div(rows, MR); ++p) {
      uint32_t* panel = packed + p * pairs * MR;
      for (int64_t i = 0; i < MR; ++i) {
        const int64_t row = p * MR + i;
        const float* src = a + row * lda + k0;
        for (int64_t kp = 0; kp < pairs; ++kp) {
          const int64_t kk = k0 + 2 * kp;
          const uint16_t lo = row < rows && kk < k ? to_bf16(src[2 * kp]) : 0;
          const uint16_t hi = row < rows && kk + 1 < k && 2 * kp + 1 < kc ? to_bf16(src[2 * kp + 1]) : 0;
          panel[kp * MR + i] = static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16);
        }
      }
    }
  }

  // rows x all of K of a as float32 pairs, k-pair major: panel[(kp * MR + i) * 2 + h] (zero padded).
  static void pack_exact_pairs(const float* a, int64_t lda, int64_t rows, int64_t k, float* packed) {
    const int64_t pairs = ceil_div(k, 2);
    for (int64_t p = 0; p < ceil_div(rows, MR); ++p) {
      float* panel = packed + p * pairs * MR * 2;
      for (int64_t i = 0; i < MR; ++i) {
        const int64_t row = p * MR + i;
        for (int64_t kp = 0; kp < pairs; ++kp)
          for (int64_t h = 0; h < 2; ++h) {
            const int64_t kk = 2 * kp + h;
            panel[(kp * MR + i) * 2 + h] = row < rows && kk < k ? a[row * lda + kk] : 0.0f;
          }
      }
    }
  }

  template <int H>
  static inline void tile_exact(int64_t pairs, const float* a, const uint16_t* b, float* c, int64_t ldc) {
    __m512 acc[H][NV];
    for (int i = 0; i < H; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    const __m512i high_half = _mm512_set1_epi32(static_cast<int>(0xffff0000u));
    for (int64_t kp = 0; kp < pairs; ++kp) {
      const uint16_t* ahead = b + (kp + 8) * NR * 2;
      for (int line = 0; line < NV; ++line) _mm_prefetch(reinterpret_cast<const char*>(ahead + line * 32), _MM_HINT_T0);
      __m512 even[NV], odd[NV];
      for (int v = 0; v < NV; ++v) {
        const __m512i pair = _mm512_loadu_si512(b + (kp * NR + v * W) * 2);
        even[v] = _mm512_castsi512_ps(_mm512_slli_epi32(pair, 16));       // k = 2 kp: the low halves
        odd[v] = _mm512_castsi512_ps(_mm512_and_si512(pair, high_half));  // k = 2 kp + 1: the high halves
      }
      for (int i = 0; i < H; ++i) {
        const __m512 a0 = _mm512_set1_ps(a[(kp * MR + i) * 2]), a1 = _mm512_set1_ps(a[(kp * MR + i) * 2 + 1]);
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(a1, odd[v], _mm512_fmadd_ps(a0, even[v], acc[i][v]));
      }
    }
    for (int i = 0; i < H; ++i)
      for (int v = 0; v < NV; ++v) _mm512_storeu_ps(c + i * ldc + v * W, acc[i][v]);
  }

  template <int H>
  static inline void tile_exact_rows(int64_t height, int64_t pairs, const float* a, const uint16_t* b, float* c,
                                     int64_t ldc) {
    if constexpr (H > 1) {
      if (height < H) {
        tile_exact_rows<H - 1>(height, pairs, a, b, c, ldc);
        return;
      }
    }
    tile_exact<H>(pairs, a, b, c, ldc);
  }

  template <int H>
  static inline void tile(int64_t pairs, const uint32_t* a, const uint16_t* b, float* c, int64_t ldc, bool accumulate) {
    __m512 acc[H][NV];
    for (int i = 0; i < H; ++i)
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
    for (int64_t kp = 0; kp < pairs; ++kp) {
      // The panel is one contiguous stream: fetch ~1.5 KiB ahead (a single stream per thread otherwise
      // leaves memory bandwidth unused at few rows).
      const uint16_t* ahead = b + (kp + 8) * NR * 2;
      for (int line = 0; line < NV; ++line) _mm_prefetch(reinterpret_cast<const char*>(ahead + line * 32), _MM_HINT_T0);
      __m512bh b_row[NV];
      for (int v = 0; v < NV; ++v) b_row[v] = (__m512bh)_mm512_loadu_si512(b + (kp * NR + v * W) * 2);
      for (int i = 0; i < H; ++i) {
        const __m512bh a_pair = (__m512bh)_mm512_set1_epi32(static_cast<int>(a[kp * MR + i]));
        for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_dpbf16_ps(acc[i][v], a_pair, b_row[v]);
      }
    }
    for (int i = 0; i < H; ++i)
      for (int v = 0; v < NV; ++v) {
        float* dst = c + i * ldc + v * W;
        _mm512_storeu_ps(dst, accumulate ? _mm512_add_ps(_mm512_loadu_ps(dst), acc[i][v]) : acc[i][v]);
      }
  }

  template <int H>
  static inline void tile_rows(int64_t height, int64_t pairs, const uint32_t* a, const uint16_t* b, float* c,
                               int64_t ldc, bool accumulate) {
    if constexpr (H > 1) {
      if (height < H) {
        tile_rows<H - 1>(height, pairs, a, b, c, ldc, accumulate);
        return;
      }
    }
    tile<H>(pairs, a, b, c, ldc, accumulate);
  }

  struct Task {
    const uint16_t* panels;
    int64_t m, k, n, row_block, col_block, col_blocks;
    const float* a;
    int64_t lda;
    float* c;
    int64_t ldc;
    const GemmEpilogue* epilogue;
    bool out_of_memory;
  };

  static void run_block(Task& t, int64_t index, uint32_t* packed_a) {
    alignas(64) float edge_tile[MR * NR];
    const int64_t m0 = (index / t.col_blocks) * t.row_block, n0 = (index % t.col_blocks) * t.col_block;
    const int64_t rows = min_i64(t.row_block, t.m - m0), cols = min_i64(t.col_block, t.n - n0);
    const int64_t all_pairs = ceil_div(t.k, 2);
    auto finish_tile = [&](float* c_tile, int64_t height, int64_t width, bool accumulate) {
      for (int64_t r = 0; r < height; ++r)
        for (int64_t s = 0; s < width; ++s)
          c_tile[r * t.ldc + s] = accumulate ? c_tile[r * t.ldc + s] + edge_tile[r * NR + s] : edge_tile[r * NR + s];
    };
    if (rows <= EXACT_ROWS) {
      // Decoding steps: float32 activations against the widened weights, each panel streamed once.
      float* exact_a = reinterpret_cast<float*>(packed_a);
      pack_exact_pairs(t.a + m0 * t.lda, t.lda, rows, t.k, exact_a);
      for (int64_t j = 0; j < cols; j += NR) {
        const int64_t col = n0 + j, width = min_i64(NR, cols - j);
        const uint16_t* b = t.panels + (col / NR) * all_pairs * NR * 2;
        float* c_tile = t.c + m0 * t.ldc + col;
        if (width == NR) {
          tile_exact_rows<MR>(rows, all_pairs, exact_a, b, c_tile, t.ldc);
        } else {
          tile_exact_rows<MR>(rows, all_pairs, exact_a, b, edge_tile, NR);
          finish_tile(c_tile, rows, width, false);
        }
        apply_epilogue<V>(c_tile, t.ldc, rows, m0, col, width, *t.epilogue);
      }
      return;
    }
    if (rows <= SMALL_M) {
      // Few rows (prefill): A packed once for all of K, then each weight panel streamed from its first
      // row pair to its last (one contiguous read), the tile accumulating in registers throughout.
      pack_pairs(t.a + m0 * t.lda, t.lda, rows, 0, t.k, t.k, packed_a);
      for (int64_t j = 0; j < cols; j += NR) {
        const int64_t col = n0 + j, width = min_i64(NR, cols - j);
        const uint16_t* b = t.panels + (col / NR) * all_pairs * NR * 2;
        for (int64_t i = 0; i < rows; i += MR) {
          const int64_t height = min_i64(MR, rows - i);
          float* c_tile = t.c + (m0 + i) * t.ldc + col;
          const uint32_t* a_panel = packed_a + (i / MR) * all_pairs * MR;
          if (width == NR) {
            tile_rows<MR>(height, all_pairs, a_panel, b, c_tile, t.ldc, false);
          } else {
            tile_rows<MR>(height, all_pairs, a_panel, b, edge_tile, NR, false);
            finish_tile(c_tile, height, width, false);
          }
        }
        apply_epilogue<V>(t.c + m0 * t.ldc + col, t.ldc, rows, m0, col, width, *t.epilogue);
      }
      return;
    }
    for (int64_t k0 = 0; k0 < t.k; k0 += KC) {
      const int64_t kc = min_i64(KC, t.k - k0), pairs = ceil_div(kc, 2);
      pack_pairs(t.a + m0 * t.lda, t.lda, rows, k0, kc, t.k, packed_a);
      for (int64_t j = 0; j < cols; j += NR) {
        const int64_t col = n0 + j, width = min_i64(NR, cols - j);
        const uint16_t* b = t.panels + ((col / NR) * all_pairs + k0 / 2) * NR * 2;
        for (int64_t i = 0; i < rows; i += MR) {
          const int64_t height = min_i64(MR, rows - i);
          float* c_tile = t.c + (m0 + i) * t.ldc + col;
          const uint32_t* a_panel = packed_a + (i / MR) * pairs * MR;
          if (width == NR) {
            tile_rows<MR>(height, pairs, a_panel, b, c_tile, t.ldc, k0 > 0);
          } else {
            tile_rows<MR>(height, pairs, a_panel, b, edge_tile, NR, false);
            finish_tile(c_tile, height, width, k0 > 0);
          }
        }
        if (k0 + kc == t.k) apply_epilogue<V>(t.c + m0 * t.ldc + col, t.ldc, rows, m0, col, width, *t.epilogue);
      }
    }
  }

  static bool gemm_panels(int64_t m, const float* a, int64_t lda, const PackedWeight& w, float* c, int64_t ldc,
                          const GemmEpilogue& epilogue) {
    const int64_t k = w.rows, n = w.cols;
    if (k == 0) {
      for (int64_t i = 0; i < m; ++i) memset(c + i * ldc, 0, sizeof(float) * n);
      apply_epilogue<V>(c, ldc, m, 0, 0, n, epilogue);
      return true;
    }
    const int64_t row_block = m <= SMALL_M ? m : round_up(ceil_div(m, ceil_div(m, MC_MAX)), MR);
    const int64_t row_blocks = ceil_div(m, row_block);
    const int64_t panels = ceil_div(n, NR);
    const int64_t col_block = G::panels_per_task_for_balance(row_blocks, &panels, 1, thread_count()) * NR;
    Task task{reinterpret_cast<const uint16_t*>(w.panels), m, k, n, row_block, col_block, ceil_div(n, col_block),
              a, lda, c, ldc, &epilogue, false};
    auto body = [&task](int64_t begin, int64_t end) {
      // Words per row: float32 pairs (two words) at up to EXACT_ROWS rows, bfloat16 pairs (one) otherwise.
      const int64_t words = task.row_block <= EXACT_ROWS ? 2 * ceil_div(task.k, 2) :
                            task.row_block <= SMALL_M ? ceil_div(task.k, 2) : KC / 2;
      ScratchArray<uint32_t> packed_a(round_up(task.row_block, MR) * words);
      if (!packed_a.data) { task.out_of_memory = true; return; }
      for (int64_t index = begin; index < end; ++index) run_block(task, index, packed_a.data);
    };
    parallel_for_each(row_blocks * task.col_blocks, 1, body);
    return !task.out_of_memory;
  }

  static bool gemm_view(int64_t m, const float* a, int64_t lda, const WeightView& w, float* c, int64_t ldc,
                        const GemmEpilogue& epilogue) {
    if (m <= 0 || w.n <= 0) return true;
    if (w.kind == WeightView::prepacked && w.packed->format == WeightFormat::bf16_panels)
      return gemm_panels(m, a, lda, *w.packed, c, ldc, epilogue);
    return Fallback::gemm_view(m, a, lda, w, c, ldc, epilogue);
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_GEMM_BF16_DOT_GEMM_H_
