// GEMM: register-tiled micro-kernels over row-major A and a packed copy of
// B. Each KC x NR block of B is copied once into a contiguous buffer (so the
// micro-kernel streams it without a TLB miss per row of a wide weight) and
// stays in L1 while every row tile of A passes over it. Column panels are
// split across threads; the epilogue runs on each panel while it is in cache.
#include "gemm.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "activations.h"
#include "parallel.h"

namespace bt {
namespace {

constexpr int64_t kKc = 256;  // K block: a KC x NR slice of B is 32 KiB at NR = 32

struct Tile {
  const float* a;  // packed A: for each k, the tile's MR row values (rows past M are 0)
  int64_t mr;      // valid rows to store
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  int64_t kc;
  int64_t nr;       // valid columns in this panel (<= the kernel's NR)
  bool accumulate;  // add to C (later K blocks) rather than overwrite
};

using MicroKernel = void (*)(const Tile& t);

// ---- AVX-512: 12 rows x 32 columns, 24 zmm accumulators ----
constexpr int kAvx512Rows = 12;

__attribute__((target("avx512f,fma"))) void Avx512Micro(const Tile& t) {
  constexpr int MR = kAvx512Rows;
  const __mmask16 m0 = static_cast<__mmask16>(t.nr >= 16 ? 0xFFFF : (1u << t.nr) - 1);
  const __mmask16 m1 = static_cast<__mmask16>(t.nr >= 32 ? 0xFFFF : t.nr > 16 ? (1u << (t.nr - 16)) - 1 : 0);
  __m512 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    if (t.accumulate && r < t.mr) {
      acc0[r] = _mm512_maskz_loadu_ps(m0, t.c + r * t.ldc);
      acc1[r] = _mm512_maskz_loadu_ps(m1, t.c + r * t.ldc + 16);
    } else {
      acc0[r] = _mm512_setzero_ps();
      acc1[r] = _mm512_setzero_ps();
    }
  }
  const float* b = t.b;
  const float* a = t.a;
  for (int64_t kk = 0; kk < t.kc; ++kk, b += t.ldb, a += MR) {
    const __m512 b0 = _mm512_loadu_ps(b);
    const __m512 b1 = _mm512_loadu_ps(b + 16);
    for (int r = 0; r < MR; ++r) {
      const __m512 av = _mm512_set1_ps(a[r]);
      acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    if (r >= t.mr) break;
    _mm512_mask_storeu_ps(t.c + r * t.ldc, m0, acc0[r]);
    _mm512_mask_storeu_ps(t.c + r * t.ldc + 16, m1, acc1[r]);
  }
}


// ---- AVX2 + FMA: 6 rows x 16 columns, 12 ymm accumulators ----
__attribute__((target("avx2,fma"))) inline __m256i Avx2Mask(int64_t valid) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(8, valid)))),
                            lanes);
}

constexpr int kAvx2Rows = 6;

__attribute__((target("avx2,fma"))) void Avx2Micro(const Tile& t) {
  constexpr int MR = kAvx2Rows;
  const __m256i m0 = Avx2Mask(t.nr), m1 = Avx2Mask(t.nr - 8);
  __m256 acc0[MR], acc1[MR];
  for (int r = 0; r < MR; ++r) {
    if (t.accumulate && r < t.mr) {
      acc0[r] = _mm256_maskload_ps(t.c + r * t.ldc, m0);
      acc1[r] = _mm256_maskload_ps(t.c + r * t.ldc + 8, m1);
    } else {
      acc0[r] = _mm256_setzero_ps();
      acc1[r] = _mm256_setzero_ps();
    }
  }
  const float* b = t.b;
  const float* a = t.a;
  for (int64_t kk = 0; kk < t.kc; ++kk, b += t.ldb, a += MR) {
    const __m256 b0 = _mm256_loadu_ps(b);
    const __m256 b1 = _mm256_loadu_ps(b + 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 av = _mm256_broadcast_ss(a + r);
      acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
      acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    if (r >= t.mr) break;
    _mm256_maskstore_ps(t.c + r * t.ldc, m0, acc0[r]);
    _mm256_maskstore_ps(t.c + r * t.ldc + 8, m1, acc1[r]);
  }
}


// ---- Portable: 4 rows x 16 columns, left to the compiler ----
constexpr int kGenericRows = 4;

void GenericMicro(const Tile& t) {
  float acc[kGenericRows][16];
  for (int64_t r = 0; r < kGenericRows; ++r) {
    for (int64_t j = 0; j < 16; ++j) acc[r][j] = (t.accumulate && r < t.mr && j < t.nr) ? t.c[r * t.ldc + j] : 0.f;
  }
  for (int64_t kk = 0; kk < t.kc; ++kk) {
    const float* brow = t.b + kk * t.ldb;
    for (int64_t r = 0; r < kGenericRows; ++r) {
      const float av = t.a[kk * kGenericRows + r];
      for (int64_t j = 0; j < 16; ++j) acc[r][j] += av * brow[j];
    }
  }
  for (int64_t r = 0; r < t.mr; ++r) std::memcpy(t.c + r * t.ldc, acc[r], t.nr * sizeof(float));
}

struct Kernel {
  MicroKernel micro;
  int64_t mr, nr;
  const char* isa;
};

Kernel SelectKernel() {
  const char* forced = std::getenv("TFJS_BT_ISA");
  const std::string want = forced ? forced : "";
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (avx512 && (want.empty() || want == "avx512")) return {&Avx512Micro, kAvx512Rows, 32, "avx512"};
  if (avx2 && (want.empty() || want == "avx512" || want == "avx2")) return {&Avx2Micro, kAvx2Rows, 16, "avx2"};
  return {&GenericMicro, kGenericRows, 16, "generic"};
}

const Kernel& ActiveKernel() {
  static const Kernel kernel = SelectKernel();
  return kernel;
}

void ApplyEpilogue(float* c, int64_t ldc, int64_t m, int64_t j0, int64_t nr, const GemmEpilogue& e) {
  for (int64_t i = 0; i < m; ++i) {
    float* row = c + i * ldc + j0;
    if (e.bias) for (int64_t j = 0; j < nr; ++j) row[j] += e.bias[j0 + j];
    ApplyActivation(e.activation, row, nr);
    if (e.residual) {
      const float* res = e.residual + i * e.ld_residual + j0;
      for (int64_t j = 0; j < nr; ++j) row[j] += res[j];
    }
  }
}

}  // namespace

const char* GemmIsa() { return ActiveKernel().isa; }

namespace {

// A packed tile by tile, k-major: each k's MR row values are adjacent, so the
// micro-kernel's broadcasts read one cache line instead of MR rows that may
// alias in L1. Rows past M are zero and never stored. Tiles [begin, end).
void PackA(const Kernel& kernel, int64_t m, int64_t k, const float* a, int64_t lda, float* packed, int64_t begin,
           int64_t end) {
  for (int64_t t = begin; t < end; ++t) {
    float* dst = packed + t * kernel.mr * k;
    const int64_t rows = std::min(kernel.mr, m - t * kernel.mr);
    if (rows < kernel.mr) std::fill(dst, dst + kernel.mr * k, 0.f);
    for (int64_t r = 0; r < rows; ++r) {
      const float* src = a + (t * kernel.mr + r) * lda;
      for (int64_t kk = 0; kk < k; ++kk) dst[kk * kernel.mr + r] = src[kk];
    }
  }
}

// Column panels [begin, end) of C: each KC x NR block of B packed into
// `packed_b` (columns past N zero), then every row tile of packed A over it.
// `prepacked`, when set, is B already in the PackedWeight layout: the copy below is skipped.
void RunPanels(const Kernel& kernel, int64_t m, int64_t n, int64_t k, const float* packed_a, const float* b,
               int64_t ldb, float* c, int64_t ldc, bool accumulate, float* packed_b, int64_t begin, int64_t end,
               const float* prepacked = nullptr) {
  const int64_t row_tiles = (m + kernel.mr - 1) / kernel.mr;
  for (int64_t p = begin; p < end; ++p) {
    const int64_t j0 = p * kernel.nr, nr = std::min(kernel.nr, n - j0);
    if (k == 0 && !accumulate) {
      for (int64_t i = 0; i < m; ++i) std::fill(c + i * ldc + j0, c + i * ldc + j0 + nr, 0.f);
    }
    for (int64_t k0 = 0; k0 < k; k0 += kKc) {
      const int64_t kc = std::min(kKc, k - k0);
      const float* block = prepacked ? prepacked + (p * k + k0) * kernel.nr : packed_b;
      if (!prepacked) {
        for (int64_t kk = 0; kk < kc; ++kk) {
          float* dst = packed_b + kk * kernel.nr;
          std::memcpy(dst, b + (k0 + kk) * ldb + j0, nr * sizeof(float));
          std::fill(dst + nr, dst + kernel.nr, 0.f);
        }
      }
      for (int64_t t = 0; t < row_tiles; ++t) {
        const int64_t i0 = t * kernel.mr;
        const Tile tile{packed_a + (t * k + k0) * kernel.mr, std::min(kernel.mr, m - i0), block, kernel.nr,
                        c + i0 * ldc + j0, ldc, kc, nr, accumulate || k0 > 0};
        kernel.micro(tile);
      }
    }
  }
}

}  // namespace

namespace {

void GemmImpl(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
              const float* prepacked, float* c, int64_t ldc, const GemmEpilogue& epilogue) {
  if (m <= 0 || n <= 0) return;
  const Kernel& kernel = ActiveKernel();
  const int64_t panels = (n + kernel.nr - 1) / kernel.nr;
  const int64_t row_tiles = (m + kernel.mr - 1) / kernel.mr;
  std::vector<float> packed_a(row_tiles * kernel.mr * std::max<int64_t>(k, 1));
  ParallelFor(row_tiles, 2.0 * kernel.mr * k, [&](int64_t begin, int64_t end) {
    PackA(kernel, m, k, a, lda, packed_a.data(), begin, end);
  });
  ParallelFor(panels, 2.0 * m * std::max<int64_t>(k, 1) * kernel.nr, [&](int64_t begin, int64_t end) {
    std::vector<float> packed_b(prepacked ? 0 : kKc * kernel.nr);
    RunPanels(kernel, m, n, k, packed_a.data(), b, ldb, c, ldc, false, packed_b.data(), begin, end, prepacked);
    for (int64_t p = begin; p < end; ++p) {
      const int64_t j0 = p * kernel.nr;
      ApplyEpilogue(c, ldc, m, j0, std::min(kernel.nr, n - j0), epilogue);
    }
  });
}

}  // namespace

void Gemm(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
          int64_t ldc, const GemmEpilogue& epilogue) {
  GemmImpl(m, n, k, a, lda, b, ldb, nullptr, c, ldc, epilogue);
}

PackedWeight::PackedWeight(int64_t k, int64_t n, const float* b, int64_t ldb)
    : k_(k), n_(n), nr_(ActiveKernel().nr) {
  const int64_t panels = (n + nr_ - 1) / nr_;
  data_.assign(static_cast<size_t>(panels * std::max<int64_t>(k, 1) * nr_), 0.f);
  for (int64_t p = 0; p < panels; ++p) {
    const int64_t j0 = p * nr_, width = std::min(nr_, n - j0);
    for (int64_t kk = 0; kk < k; ++kk) std::memcpy(&data_[(p * k + kk) * nr_], b + kk * ldb + j0, width * sizeof(float));
  }
}

void GemmPacked(int64_t m, const float* a, int64_t lda, const PackedWeight& b, float* c, int64_t ldc,
                const GemmEpilogue& epilogue) {
  GemmImpl(m, b.cols(), b.rows(), a, lda, nullptr, 0, b.data(), c, ldc, epilogue);
}

void GemmSerial(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
                int64_t ldc, bool accumulate) {
  if (m <= 0 || n <= 0) return;
  const Kernel& kernel = ActiveKernel();
  const int64_t row_tiles = (m + kernel.mr - 1) / kernel.mr;
  thread_local std::vector<float> packed_a, packed_b;
  packed_a.resize(std::max<size_t>(packed_a.size(), row_tiles * kernel.mr * std::max<int64_t>(k, 1)));
  packed_b.resize(std::max<size_t>(packed_b.size(), kKc * kernel.nr));
  PackA(kernel, m, k, a, lda, packed_a.data(), 0, row_tiles);
  RunPanels(kernel, m, n, k, packed_a.data(), b, ldb, c, ldc, accumulate, packed_b.data(), 0,
            (n + kernel.nr - 1) / kernel.nr);
}

}  // namespace bt
