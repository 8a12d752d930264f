// Flash attention forward, precision 'high': both products (Q·Kᵀ and P·V) on
// TF32 tensor cores (mma.sync m16n8k8) with FP32 accumulation; softmax in FP32.
// A block of 4 warps owns 64 query rows of one (batch, head), 16 per warp; each
// warp keeps its Q fragments in registers and its running output in mma
// accumulators. Key/value tiles of 64 rows go through shared memory, already
// rounded to TF32 so the inner loops only load. P goes from the score
// accumulators (C layout) to A fragments through a per-warp shared-memory slab.
#include <cmath>

#include "attention_mask.cuh"
#include "attention_params.h"
#include "mma_tf32.cuh"

namespace btc {
namespace {

constexpr int kRows = 64, kKeys = 64, kWarps = 4, kThreads = kWarps * 32;

template <int DP>
struct Tf32Smem {
  static constexpr int kQPitch = DP + 4;     // A-fragment reads: bank 4g + t, conflict-free
  static constexpr int kKPitch = DP + 4;     // B-fragment reads of K rows: bank 4g + t
  static constexpr int kVPitch = DP + 8;     // B-fragment reads of V columns: bank 8t + g
  static constexpr int kPPitch = kKeys + 4;  // per-warp P slab, A-fragment reads
  static constexpr int kQ = kRows * kQPitch;
  static constexpr int kP = kWarps * 16 * kPPitch;
  static constexpr int kQP = kQ > kP ? kQ : kP;  // Q is dead once in registers: P reuses it
  static constexpr int kK = kKeys * kKPitch, kV = kKeys * kVPitch;
  static constexpr size_t kBytes = sizeof(float) * (kQP + kK + kV);
};

template <int DP>
__global__ void __launch_bounds__(kThreads) AttentionForwardTf32Kernel(AttentionParams p) {
  extern __shared__ float smem[];
  using S = Tf32Smem<DP>;
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

  for (int key0 = 0; key0 < key_end; key0 += kKeys) {
    __syncthreads();  // every warp is done with the previous tile (and with Q in shared memory)
    for (int e = tid; e < kKeys * DP; e += kThreads) {
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

    float sacc[kKeys / 8][4];
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) sacc[n][0] = sacc[n][1] = sacc[n][2] = sacc[n][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DP / 8; ++kk) {
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
        const float* kr = ks + (n * 8 + g) * S::kKPitch + kk * 8 + t;
        MmaTf32(sacc[n], qa[kk], __float_as_uint(kr[0]), __float_as_uint(kr[4]));
      }
    }

    // Tiles wholly visible to every row of the block skip the per-element mask rule.
    const bool plain = p.mask_kind == 0 && !p.key_valid && key0 + kKeys <= view.k_end &&
                       (!p.causal || key0 + kKeys - 1 <= row0 + diag);
    float alpha[2];
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int i = rows[half];
      float tile_max = -INFINITY;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
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
      for (int n = 0; n < kKeys / 8; ++n) {
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
    for (int kc = 0; kc < kKeys / 8; ++kc) {
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
cudaError_t Launch(const AttentionParams& p, cudaStream_t stream) {
  const size_t bytes = Tf32Smem<DP>::kBytes;
  cudaError_t err = cudaFuncSetAttribute(AttentionForwardTf32Kernel<DP>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.batch * p.heads, (p.q_seq + kRows - 1) / kRows);
  AttentionForwardTf32Kernel<DP><<<grid, kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchAttentionForwardTf32(const AttentionParams& p, cudaStream_t stream) {
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32: return Launch<32>(p, stream);
    case 64: return Launch<64>(p, stream);
    default: return Launch<128>(p, stream);
  }
}

}  // namespace btc
