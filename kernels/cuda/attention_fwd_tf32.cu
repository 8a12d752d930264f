// Flash attention forward, precision 'high': both products (Q·Kᵀ and P·V) on
// TF32 tensor cores (mma.sync m16n8k8) with FP32 accumulation; softmax in FP32.
// A block of 4 warps owns 64 query rows of one (batch, head), 16 per warp, and
// streams key/value tiles through shared memory with an online softmax.
//
// Two kernels live here; BT_CUDA_TF32_KERNEL=v1 (read at each launch) selects the first.
//
// v2 (default; NOTES.md has the reasoning and the resource table):
// - Q, K and V sit in shared memory in their natural [row][d] layout, already rounded to TF32,
//   and every fragment is one 16-byte shared load. This works because the mma's k index may map
//   to any column as long as A and B agree, and its n index to any output column as long as the
//   result is written back through the same map:
//     Q·Kᵀ, k-steps 2m and 2m+1 (16 columns from 16m): lane (g, t) takes columns 16m+4t..16m+4t+3;
//       step 2m uses k=t → 16m+4t, k=t+4 → 16m+4t+1; step 2m+1 uses k=t → 16m+4t+2,
//       k=t+4 → 16m+4t+3. So one float4 of a Q row gives a0/a2 (or a1/a3) for two steps, and one
//       float4 of a K row (key 8n+g) gives b0, b1 for two steps.
//     P·V, k-step kc (keys 8kc..8kc+7): k=t → key 8kc+2t, k=t+4 → key 8kc+2t+1. With that map the
//       A fragment of P is the score accumulator itself, {c0, c2, c1, c3} (c0 = S(g, 8kc+2t),
//       c1 = S(g, 8kc+2t+1), c2/c3 the same at row g+8): P never leaves registers.
//     P·V output n-tiles 4j..4j+3 (32 columns from 32j): n-tile 4j+u, column g ↔ d = 32j+4g+u, so
//       one float4 of a V row gives b0 (row 8kc+2t) or b1 (row 8kc+2t+1) for four n-tiles, and
//       accumulator c0 (c1) of n-tiles 4j..4j+3 is d = 32j+8t..+3 (32j+8t+4..+7) of row g: a
//       thread writes 8 consecutive outputs per row and j.
// - Q stays in shared memory (A fragments are loaded per k-step rather than held in 4·DP/8
//   registers); at DP = 128 key tiles are 32 rows, so the score accumulators take 16 registers.
// - The next K tile is loaded into registers (float4 where the strides allow) while the current
//   tile's Q·Kᵀ runs, and the next V tile while P·V runs; each is rounded and stored once the
//   block has finished with the buffer it replaces. Two __syncthreads per tile.
// - Softmax in base 2 (scores scaled by scale·log2 e, ex2.approx); lse is converted back.
// - The output rescale is skipped when no row of the warp changed its maximum (alpha = 1 exactly).
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "attention_mask.cuh"
#include "attention_params.h"
#include "mma_tf32.cuh"

namespace btc {
namespace {

constexpr int kRows = 64, kWarps = 4, kThreads = kWarps * 32;
constexpr float kLog2e = 1.4426950408889634f, kLn2 = 0.6931471805599453f;

template <int DP>
struct Tf32Config {
  // 32 keys at DP = 128 keep the scores at 16 registers; 64 elsewhere (the tile overhead halves).
  static constexpr int kKeys = DP == 128 ? 32 : 64;
  // Blocks per SM the registers are sized for (65,536 / (128 · blocks) registers per thread).
  static constexpr int kMinBlocks = DP == 32 ? 4 : 3;
  // Pitches in floats. Fragment reads are 16-byte loads, served per quarter warp (8 lanes,
  // g ∈ {2q, 2q+1}, t = 0..3); each needs the 8 lanes on 32 distinct banks:
  // - Q and K rows (row r = base + g, column 16m + 4t, base a multiple of 8): bank g·P + 4t mod 32.
  //   P ≡ 16 (mod 32) puts even g on banks 0..15 and odd g on 16..31.
  static constexpr int kQPitch = DP + 16, kKPitch = DP + 16;
  // - V rows (row 8kc + 2t (+1), column 32j + 4g): bank 2t·P + 4g (+P) mod 32. P ≡ 4 (mod 16)
  //   makes 2t·P ≡ 8t, so lanes land on 8t + 4g' + 0..3, g' ∈ {0, 1}: all 32 banks.
  static constexpr int kVPitch = DP + 4;
  static_assert(kQPitch % 32 == 16 && kVPitch % 16 == 4, "pitch rule");
  // Tile stores (float4 at row j, column 4c): 8 consecutive lanes write 8 consecutive float4 of
  // one row (DP/4 ≥ 8 chunks per row), conflict-free for any pitch that is a multiple of 4.
  static constexpr int kChunks = DP / 4;                // float4 per row
  static constexpr int kRowsPerPass = kThreads / kChunks;
  static constexpr int kKvPasses = kKeys / kRowsPerPass;  // float4 registers per thread per K (or V) tile
  static constexpr int kQPasses = kRows / kRowsPerPass;
  static_assert(kThreads % kChunks == 0 && kKeys % kRowsPerPass == 0 && DP % 32 == 0, "tile shape");
  static constexpr int kQ = kRows * kQPitch, kK = kKeys * kKPitch, kV = kKeys * kVPitch;
  static constexpr size_t kBytes = sizeof(float) * (kQ + kK + kV);
};

__device__ inline bool Aligned16(const float* ptr) { return (reinterpret_cast<uintptr_t>(ptr) & 15) == 0; }

// Columns d..d+3 of N rows of one tile into registers: row key0 + r0 + i·step for i < N, from
// base + row·ss; zero for a row that is not read (at or past k_len, or a padded key: `valid`,
// already offset to the batch, is null or says 0) and for columns at or past limit. vec: base and
// ss are 16-byte multiples and limit a multiple of 4, so a quad is all in or all out.
template <int N>
__device__ inline void FetchRows(float4 (&r)[N], const float* base, int64_t ss, int key0, int r0, int step, int d,
                                 int limit, bool vec, int k_len, const uint8_t* valid) {
  if (vec) {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int key = key0 + r0 + i * step;
      const bool in = key < k_len && (!valid || valid[key] != 0) && d < limit;
      r[i] = in ? __ldg(reinterpret_cast<const float4*>(base + key * ss + d)) : make_float4(0.f, 0.f, 0.f, 0.f);
    }
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) {
      const int key = key0 + r0 + i * step;
      const bool in = key < k_len && (!valid || valid[key] != 0);
      const float* row = base + key * ss;
      r[i].x = in && d < limit ? __ldg(row + d) : 0.f;
      r[i].y = in && d + 1 < limit ? __ldg(row + d + 1) : 0.f;
      r[i].z = in && d + 2 < limit ? __ldg(row + d + 2) : 0.f;
      r[i].w = in && d + 3 < limit ? __ldg(row + d + 3) : 0.f;
    }
  }
}

__device__ inline void StoreTf32Quad(float* dst, float4 v) {
  *reinterpret_cast<float4*>(dst) = make_float4(__uint_as_float(ToTf32(v.x)), __uint_as_float(ToTf32(v.y)),
                                                __uint_as_float(ToTf32(v.z)), __uint_as_float(ToTf32(v.w)));
}

template <int DP>
__global__ void __launch_bounds__(kThreads, Tf32Config<DP>::kMinBlocks) AttentionForwardTf32Kernel(AttentionParams p) {
  using C = Tf32Config<DP>;
  constexpr int KEYS = C::kKeys;
  extern __shared__ float4 smem4[];
  float* qs = reinterpret_cast<float*>(smem4);
  float* ks = qs + C::kQ;
  float* vs = ks + C::kK;

  const int bh = blockIdx.x;
  const int b = bh / p.heads, h = bh % p.heads;
  const HeadView view = MakeHeadView(p, b, h);
  const int row0 = (gridDim.y - 1 - blockIdx.y) * kRows;  // heaviest (causal) tiles first
  if (row0 >= view.q_len) return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int row_last = min(row0 + kRows, view.q_len) - 1;
  const int key_end = VisibleKeyEnd(p, view, row_last);

  // Staging geometry: thread tid moves float4 column quad dq of rows sr, sr + kRowsPerPass, ...
  const int dq = (tid % C::kChunks) * 4, sr = tid / C::kChunks;
  const float* qg = p.q + view.q_base;
  const float* kg = p.k + view.k_base;
  const float* vg = p.v + view.v_base;
  const bool qvec = Aligned16(qg) && (p.q_ss & 3) == 0 && (p.depth & 3) == 0;
  const bool kvec = Aligned16(kg) && (p.k_ss & 3) == 0 && (p.depth & 3) == 0;
  const bool vvec = Aligned16(vg) && (p.v_ss & 3) == 0 && (p.value_depth & 3) == 0;

  {
    float4 qr[C::kQPasses / 4];  // Q in four rounds of loads, then rounded and stored
#pragma unroll
    for (int round = 0; round < 4; ++round) {
      const int r0 = sr + round * (C::kQPasses / 4) * C::kRowsPerPass;
      FetchRows(qr, qg, p.q_ss, row0, r0, C::kRowsPerPass, dq, p.depth, qvec, view.q_len, nullptr);
#pragma unroll
      for (int i = 0; i < C::kQPasses / 4; ++i) StoreTf32Quad(qs + (r0 + i * C::kRowsPerPass) * C::kQPitch + dq, qr[i]);
    }
  }

  // Padded keys are never read: their k and v rows stay zero, so NaN there cannot reach a result.
  const uint8_t* valid = p.key_valid ? p.key_valid + static_cast<int64_t>(b) * p.k_seq : nullptr;
  float4 pre[C::kKvPasses];  // the next tile's K, then its V, in flight
  auto fetch_k = [&](int key0) {
    FetchRows(pre, kg, p.k_ss, key0, sr, C::kRowsPerPass, dq, p.depth, kvec, view.k_len, valid);
  };
  auto fetch_v = [&](int key0) {
    FetchRows(pre, vg, p.v_ss, key0, sr, C::kRowsPerPass, dq, p.value_depth, vvec, view.k_len, valid);
  };
  auto store_k = [&]() {
#pragma unroll
    for (int i = 0; i < C::kKvPasses; ++i) StoreTf32Quad(ks + (sr + i * C::kRowsPerPass) * C::kKPitch + dq, pre[i]);
  };
  auto store_v = [&]() {
#pragma unroll
    for (int i = 0; i < C::kKvPasses; ++i) StoreTf32Quad(vs + (sr + i * C::kRowsPerPass) * C::kVPitch + dq, pre[i]);
  };
  if (key_end > 0) {
    fetch_k(0);
    store_k();
    fetch_v(0);
    store_v();
  }
  __syncthreads();  // Q and the first K/V tile are in shared memory

  float oacc[DP / 8][4];
#pragma unroll
  for (int n = 0; n < DP / 8; ++n) oacc[n][0] = oacc[n][1] = oacc[n][2] = oacc[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // running max (base-2 units) and sum
  const int rows[2] = {row0 + warp * 16 + g, row0 + warp * 16 + g + 8};
  const int diag = view.k_len - view.q_len;
  const float scale2 = p.scale * kLog2e;
  const float* qf0 = qs + (warp * 16 + g) * C::kQPitch + 4 * t;  // A-fragment rows g and g+8
  const float* qf1 = qf0 + 8 * C::kQPitch;
  const float* kf = ks + g * C::kKPitch + 4 * t;  // B fragments of key 8n+g
  const float* vf = vs + 2 * t * C::kVPitch + 4 * g;  // B fragments of keys 8kc+2t, 8kc+2t+1

  // Buffers per tile: K is read by Q·Kᵀ only, V by P·V only.
  //   [K(i) visible] prefetch K(i+1) → Q·Kᵀ(i), softmax → sync A → store K(i+1), prefetch V(i+1)
  //   → P·V(i) → sync B → store V(i+1).
  // Sync A: every warp is done reading K(i) (its buffer may be overwritten) and V(i), stored after
  // the previous tile's sync B, is visible. Sync B: every warp is done reading V(i), and K(i+1) is
  // visible for the next tile's Q·Kᵀ. The trip count is block-uniform, so both syncs are reached
  // by every thread.
  for (int key0 = 0; key0 < key_end; key0 += KEYS) {
    const bool next = key0 + KEYS < key_end;
    if (next) fetch_k(key0 + KEYS);

    float sacc[KEYS / 8][4];
#pragma unroll
    for (int n = 0; n < KEYS / 8; ++n) sacc[n][0] = sacc[n][1] = sacc[n][2] = sacc[n][3] = 0.f;
#pragma unroll
    for (int mk = 0; mk < DP / 16; ++mk) {
      const float4 q0 = *reinterpret_cast<const float4*>(qf0 + 16 * mk);
      const float4 q1 = *reinterpret_cast<const float4*>(qf1 + 16 * mk);
      const uint32_t a_even[4] = {__float_as_uint(q0.x), __float_as_uint(q1.x), __float_as_uint(q0.y),
                                  __float_as_uint(q1.y)};
      const uint32_t a_odd[4] = {__float_as_uint(q0.z), __float_as_uint(q1.z), __float_as_uint(q0.w),
                                 __float_as_uint(q1.w)};
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n) {
        const float4 kb = *reinterpret_cast<const float4*>(kf + n * 8 * C::kKPitch + 16 * mk);
        MmaTf32(sacc[n], a_even, __float_as_uint(kb.x), __float_as_uint(kb.y));
        MmaTf32(sacc[n], a_odd, __float_as_uint(kb.z), __float_as_uint(kb.w));
      }
    }

    // Tiles wholly visible to every row of the block skip the per-element mask rule.
    const bool plain = p.mask_kind == 0 && !p.key_valid && key0 + KEYS <= view.k_end &&
                       (!p.causal || key0 + KEYS - 1 <= row0 + diag);
    if (plain) {
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) sacc[n][e] *= scale2;
    } else if (p.mask_kind == 0 && !p.key_valid) {
      // Only the key limit and the causal diagonal: MaskTerm's first two rules, as compares.
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = rows[e / 2], j = key0 + n * 8 + 2 * t + (e & 1);
          const bool seen = i < view.q_len && j < view.k_end && (!p.causal || j <= i + diag);
          sacc[n][e] = seen ? sacc[n][e] * scale2 : -INFINITY;
        }
      }
    } else {
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = rows[e / 2], j = key0 + n * 8 + 2 * t + (e & 1);
          const float term = i < view.q_len ? MaskTerm(p, view, b, h, i, j) : -INFINITY;
          sacc[n][e] = term == -INFINITY ? -INFINITY : fmaf(sacc[n][e], scale2, term * kLog2e);
        }
      }
    }
    // P as A fragments of P·V: pa[kc] = {c0, c2, c1, c3} of score tile kc (see the header).
    uint32_t pa[KEYS / 8][4];
    float alpha[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n) tile_max = fmaxf(tile_max, fmaxf(sacc[n][half * 2], sacc[n][half * 2 + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[half], tile_max);
      const float ref = m_new == -INFINITY ? 0.f : m_new;  // no visible key yet: exp gives 0, not NaN
      alpha[half] = Exp2Approx(m[half] - ref);
      float row_sum = 0.f;
#pragma unroll
      for (int n = 0; n < KEYS / 8; ++n) {
        const float p0 = Exp2Approx(sacc[n][half * 2] - ref), p1 = Exp2Approx(sacc[n][half * 2 + 1] - ref);
        row_sum += p0 + p1;
        pa[n][half] = ToTf32(p0);      // half 0: a0 = c0; half 1: a1 = c2
        pa[n][2 + half] = ToTf32(p1);  // half 0: a2 = c1; half 1: a3 = c3
      }
      row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 1);
      row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 2);
      l[half] = l[half] * alpha[half] + row_sum;
      m[half] = m_new;
    }
    // alpha is exactly 1 when a row's maximum did not move; multiplying by 1 changes nothing
    // (NaN included), so the warp skips the rescale when that holds for all its rows.
    if (__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) {
#pragma unroll
      for (int n = 0; n < DP / 8; ++n) {
        oacc[n][0] *= alpha[0];
        oacc[n][1] *= alpha[0];
        oacc[n][2] *= alpha[1];
        oacc[n][3] *= alpha[1];
      }
    }

    __syncthreads();  // sync A
    if (next) {
      store_k();
      fetch_v(key0 + KEYS);
    }
#pragma unroll
    for (int kc = 0; kc < KEYS / 8; ++kc) {
#pragma unroll
      for (int jd = 0; jd < DP / 32; ++jd) {
        const float4 v0 = *reinterpret_cast<const float4*>(vf + kc * 8 * C::kVPitch + 32 * jd);
        const float4 v1 = *reinterpret_cast<const float4*>(vf + (kc * 8 + 1) * C::kVPitch + 32 * jd);
        MmaTf32(oacc[4 * jd + 0], pa[kc], __float_as_uint(v0.x), __float_as_uint(v1.x));
        MmaTf32(oacc[4 * jd + 1], pa[kc], __float_as_uint(v0.y), __float_as_uint(v1.y));
        MmaTf32(oacc[4 * jd + 2], pa[kc], __float_as_uint(v0.z), __float_as_uint(v1.z));
        MmaTf32(oacc[4 * jd + 3], pa[kc], __float_as_uint(v0.w), __float_as_uint(v1.w));
      }
    }
    __syncthreads();  // sync B
    if (next) store_v();
  }

  float* og = p.out + view.o_base;
  const bool ovec = Aligned16(og) && (p.o_ss & 3) == 0 && (p.value_depth & 3) == 0;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int i = rows[half];
    if (i >= view.q_len) continue;
    const bool empty = m[half] == -INFINITY && l[half] == 0.f;  // NaN keeps l NaN and propagates
    const float inv = empty ? 0.f : 1.f / l[half];
    float* orow = og + static_cast<int64_t>(i) * p.o_ss;
#pragma unroll
    for (int jd = 0; jd < DP / 32; ++jd) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        // c0 (c = 0) / c1 (c = 1) of n-tiles 4jd..4jd+3: columns 32jd + 8t + 4c + 0..3.
        const int d = 32 * jd + 8 * t + 4 * c;
        float4 o;
        o.x = empty ? 0.f : oacc[4 * jd + 0][half * 2 + c] * inv;
        o.y = empty ? 0.f : oacc[4 * jd + 1][half * 2 + c] * inv;
        o.z = empty ? 0.f : oacc[4 * jd + 2][half * 2 + c] * inv;
        o.w = empty ? 0.f : oacc[4 * jd + 3][half * 2 + c] * inv;
        if (ovec) {
          if (d < p.value_depth) *reinterpret_cast<float4*>(orow + d) = o;
        } else {
          if (d < p.value_depth) orow[d] = o.x;
          if (d + 1 < p.value_depth) orow[d + 1] = o.y;
          if (d + 2 < p.value_depth) orow[d + 2] = o.z;
          if (d + 3 < p.value_depth) orow[d + 3] = o.w;
        }
      }
    }
    if (p.lse && t == 0) {
      p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.q_seq + i] =
          empty ? -INFINITY : m[half] * kLn2 + logf(l[half]);
    }
  }
}

// Either kernel: one block per (batch·head, 64 query rows), `bytes` of dynamic shared memory.
cudaError_t LaunchKernel(void (*kernel)(AttentionParams), size_t bytes, const AttentionParams& p,
                         cudaStream_t stream) {
  cudaError_t err = cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.batch * p.heads, (p.q_seq + kRows - 1) / kRows);
  kernel<<<grid, kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

template <int DP>
cudaError_t Launch(const AttentionParams& p, cudaStream_t stream) {
  return LaunchKernel(AttentionForwardTf32Kernel<DP>, Tf32Config<DP>::kBytes, p, stream);
}

// ---------------------------------------------------------------------------------------------
// v1, the previous kernel (selected by BT_CUDA_TF32_KERNEL=v1): each warp keeps its Q fragments
// in registers; key/value tiles of 64 rows go through shared memory, already rounded to TF32;
// P goes from the score accumulators (C layout) to A fragments through a per-warp shared slab.
constexpr int kKeysV1 = 64;

template <int DP>
struct Tf32SmemV1 {
  static constexpr int kQPitch = DP + 4;     // A-fragment reads: bank 4g + t, conflict-free
  static constexpr int kKPitch = DP + 4;     // B-fragment reads of K rows: bank 4g + t
  static constexpr int kVPitch = DP + 8;     // B-fragment reads of V columns: bank 8t + g
  static constexpr int kPPitch = kKeysV1 + 4;  // per-warp P slab, A-fragment reads
  static constexpr int kQ = kRows * kQPitch;
  static constexpr int kP = kWarps * 16 * kPPitch;
  static constexpr int kQP = kQ > kP ? kQ : kP;  // Q is dead once in registers: P reuses it
  static constexpr int kK = kKeysV1 * kKPitch, kV = kKeysV1 * kVPitch;
  static constexpr size_t kBytes = sizeof(float) * (kQP + kK + kV);
};

template <int DP>
__global__ void __launch_bounds__(kThreads) AttentionForwardTf32KernelV1(AttentionParams p) {
  extern __shared__ float smem[];
  using S = Tf32SmemV1<DP>;
  float* qs = smem;
  float* ks = smem + S::kQP;
  float* vs = ks + S::kK;

  const int bh = blockIdx.x;
  const int b = bh / p.heads, h = bh % p.heads;
  const HeadView view = MakeHeadView(p, b, h);
  const int row0 = (gridDim.y - 1 - blockIdx.y) * kRows;
  if (row0 >= view.q_len) return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int row_last = min(row0 + kRows, view.q_len) - 1;
  const int key_end = VisibleKeyEnd(p, view, row_last);

  for (int e = tid; e < kRows * DP; e += kThreads) {
    const int r = e / DP, d = e % DP;
    qs[r * S::kQPitch + d] =
        (row0 + r < view.q_len && d < p.depth) ? p.q[view.q_base + (row0 + r) * p.q_ss + d] : 0.f;
  }
  __syncthreads();
  uint32_t qa[DP / 8][4];
  {
    const float* q0 = qs + (warp * 16 + g) * S::kQPitch;
    const float* q1 = q0 + 8 * S::kQPitch;
#pragma unroll
    for (int kk = 0; kk < DP / 8; ++kk) {
      qa[kk][0] = ToTf32(q0[kk * 8 + t]);
      qa[kk][1] = ToTf32(q1[kk * 8 + t]);
      qa[kk][2] = ToTf32(q0[kk * 8 + t + 4]);
      qa[kk][3] = ToTf32(q1[kk * 8 + t + 4]);
    }
  }
  float* ps = qs + warp * 16 * S::kPPitch;

  float oacc[DP / 8][4];
#pragma unroll
  for (int n = 0; n < DP / 8; ++n) oacc[n][0] = oacc[n][1] = oacc[n][2] = oacc[n][3] = 0.f;
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
  const int rows[2] = {row0 + warp * 16 + g, row0 + warp * 16 + g + 8};
  const int diag = view.k_len - view.q_len;

  for (int key0 = 0; key0 < key_end; key0 += kKeysV1) {
    __syncthreads();  // every warp is done with the previous tile (and with Q in shared memory)
    for (int e = tid; e < kKeysV1 * DP; e += kThreads) {
      const int j = e / DP, d = e % DP;
      // Padded keys are never read: their k and v rows stay zero, so NaN there cannot reach a result.
      const bool in = key0 + j < view.k_len &&
                      (!p.key_valid || p.key_valid[static_cast<int64_t>(b) * p.k_seq + key0 + j] != 0);
      const float kv = (in && d < p.depth) ? p.k[view.k_base + (key0 + j) * p.k_ss + d] : 0.f;
      const float vv = (in && d < p.value_depth) ? p.v[view.v_base + (key0 + j) * p.v_ss + d] : 0.f;
      ks[j * S::kKPitch + d] = __uint_as_float(ToTf32(kv));
      vs[j * S::kVPitch + d] = __uint_as_float(ToTf32(vv));
    }
    __syncthreads();

    float sacc[kKeysV1 / 8][4];
#pragma unroll
    for (int n = 0; n < kKeysV1 / 8; ++n) sacc[n][0] = sacc[n][1] = sacc[n][2] = sacc[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DP / 8; ++kk) {
#pragma unroll
      for (int n = 0; n < kKeysV1 / 8; ++n) {
        const float* kr = ks + (n * 8 + g) * S::kKPitch + kk * 8 + t;
        MmaTf32(sacc[n], qa[kk], __float_as_uint(kr[0]), __float_as_uint(kr[4]));
      }
    }

    // Tiles wholly visible to every row of the block skip the per-element mask rule.
    const bool plain = p.mask_kind == 0 && !p.key_valid && key0 + kKeysV1 <= view.k_end &&
                       (!p.causal || key0 + kKeysV1 - 1 <= row0 + diag);
    float alpha[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int i = rows[half];
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeysV1 / 8; ++n) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          float& s = sacc[n][half * 2 + c];
          const int j = key0 + n * 8 + 2 * t + c;
          const float term = plain ? 0.f : (i < view.q_len ? MaskTerm(p, view, b, h, i, j) : -INFINITY);
          s = term == -INFINITY ? -INFINITY : fmaf(s, p.scale, term);
          tile_max = fmaxf(tile_max, s);
        }
      }
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float m_new = fmaxf(m[half], tile_max);
      const float ref = m_new == -INFINITY ? 0.f : m_new;  // no visible key yet: exp gives 0, not NaN
      alpha[half] = expf(m[half] - ref);
      float row_sum = 0.f;
      float* prow = ps + (g + 8 * half) * S::kPPitch;
#pragma unroll
      for (int n = 0; n < kKeysV1 / 8; ++n) {
        const float p0 = expf(sacc[n][half * 2] - ref), p1 = expf(sacc[n][half * 2 + 1] - ref);
        row_sum += p0 + p1;
        prow[n * 8 + 2 * t] = __uint_as_float(ToTf32(p0));
        prow[n * 8 + 2 * t + 1] = __uint_as_float(ToTf32(p1));
      }
      row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 1);
      row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 2);
      l[half] = l[half] * alpha[half] + row_sum;
      m[half] = m_new;
    }
#pragma unroll
    for (int n = 0; n < DP / 8; ++n) {
      oacc[n][0] *= alpha[0];
      oacc[n][1] *= alpha[0];
      oacc[n][2] *= alpha[1];
      oacc[n][3] *= alpha[1];
    }
    __syncwarp();  // the warp's P slab is complete
#pragma unroll
    for (int kc = 0; kc < kKeysV1 / 8; ++kc) {
      uint32_t pa[4];
      pa[0] = __float_as_uint(ps[g * S::kPPitch + kc * 8 + t]);
      pa[1] = __float_as_uint(ps[(g + 8) * S::kPPitch + kc * 8 + t]);
      pa[2] = __float_as_uint(ps[g * S::kPPitch + kc * 8 + t + 4]);
      pa[3] = __float_as_uint(ps[(g + 8) * S::kPPitch + kc * 8 + t + 4]);
      const float* v0 = vs + (kc * 8 + t) * S::kVPitch + g;
#pragma unroll
      for (int n = 0; n < DP / 8; ++n) {
        MmaTf32(oacc[n], pa, __float_as_uint(v0[n * 8]), __float_as_uint(v0[4 * S::kVPitch + n * 8]));
      }
    }
    __syncwarp();  // P slab reads done before the next tile overwrites it
  }

#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int i = rows[half];
    if (i >= view.q_len) continue;
    const bool empty = m[half] == -INFINITY && l[half] == 0.f;  // NaN keeps l NaN and propagates
    const float inv = empty ? 0.f : 1.f / l[half];
    float* orow = p.out + view.o_base + i * p.o_ss;
#pragma unroll
    for (int n = 0; n < DP / 8; ++n) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        const int d = n * 8 + 2 * t + c;
        if (d < p.value_depth) orow[d] = empty ? 0.f : oacc[n][half * 2 + c] * inv;
      }
    }
    if (p.lse && t == 0) {
      p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.q_seq + i] = empty ? -INFINITY : m[half] + logf(l[half]);
    }
  }
}

template <int DP>
cudaError_t LaunchV1(const AttentionParams& p, cudaStream_t stream) {
  return LaunchKernel(AttentionForwardTf32KernelV1<DP>, Tf32SmemV1<DP>::kBytes, p, stream);
}

// BT_CUDA_TF32_KERNEL=v1 selects the previous kernel. Read at every launch (a getenv, far below a
// launch's cost) so one process can compare the two, as the device check does.
bool UseV1() {
  const char* e = std::getenv("BT_CUDA_TF32_KERNEL");
  return e != nullptr && std::strcmp(e, "v1") == 0;
}

}  // namespace

cudaError_t LaunchAttentionForwardTf32(const AttentionParams& p, cudaStream_t stream) {
  const bool v1 = UseV1();
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32: return v1 ? LaunchV1<32>(p, stream) : Launch<32>(p, stream);
    case 64: return v1 ? LaunchV1<64>(p, stream) : Launch<64>(p, stream);
    default: return v1 ? LaunchV1<128>(p, stream) : Launch<128>(p, stream);
  }
}

}  // namespace btc
