// Flash attention backward (recompute-based, FP32 on CUDA cores).
// 1) delta[b,h,i] = sum_d dout·out, one warp per row.
// 2) One block per (batch, kv head, 32-key block): for every query head of the
//    group and every 32-row query tile that can see these keys, recompute
//    P = exp(scale·q·kᵀ + mask − lse) tile by tile, accumulate dV = Pᵀ·dO and
//    dK = scale·dSᵀ·Q in registers (the block owns those key rows, so no
//    atomics), and add dQ = scale·dS·K and the additive mask's gradient dS
//    into global memory with atomics.
#include <cmath>

#include "attention_mask.cuh"
#include "attention_params.h"

namespace btc {
namespace {

constexpr int kKeys = 32, kRows = 32, kThreads = 128;

__global__ void DeltaKernel(AttentionParams p, const float* dout, float* delta) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * p.q_seq;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const int i = static_cast<int>(row % p.q_seq);
  const int64_t bh = row / p.q_seq;
  const int b = static_cast<int>(bh / p.heads), h = static_cast<int>(bh % p.heads);
  const int64_t o = b * p.o_sb + h * p.o_sh + i * p.o_ss;
  float s = 0.f;
  for (int d = lane; d < p.value_depth; d += 32) s = fmaf(dout[o + d], p.out[o + d], s);
  for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
  if (lane == 0) delta[row] = s;
}

template <int DP>
struct BwdSmem {
  static constexpr int kPitch = DP + 1;
  static constexpr int kTile = 32 * kPitch;
  static constexpr int kSq = 32 * 33;
  // K, V, Q, dO tiles; P and dS tiles; lse and delta of the query tile.
  static constexpr size_t kBytes = sizeof(float) * (4 * kTile + 2 * kSq + 2 * 32);
};

template <int DP>
__global__ void __launch_bounds__(kThreads) AttentionBackwardKernel(AttentionParams p, const float* dout,
                                                                    const float* delta, float* dq, float* dk,
                                                                    float* dv, float* dmask) {
  extern __shared__ float smem[];
  using S = BwdSmem<DP>;
  float* ks = smem;
  float* vs = ks + S::kTile;
  float* qs = vs + S::kTile;
  float* dos = qs + S::kTile;
  float* ps = dos + S::kTile;
  float* dss = ps + S::kSq;
  float* lse_s = dss + S::kSq;
  float* delta_s = lse_s + 32;

  const int group = p.heads / p.kv_heads;
  const int b = blockIdx.x / p.kv_heads, kvh = blockIdx.x % p.kv_heads;
  const int key0 = blockIdx.y * kKeys;
  const HeadView view0 = MakeHeadView(p, b, kvh * group);
  if (key0 >= view0.k_len) return;
  const int tid = threadIdx.x;
  if (key0 >= view0.k_end) {
    // Padding keys (past key_limit): no query sees them, their gradients are zero.
    for (int e = tid; e < kKeys * DP; e += kThreads) {
      const int j = key0 + e / DP, d = e % DP;
      if (j >= view0.k_len) continue;
      if (d < p.depth) dk[view0.k_base + j * p.k_ss + d] = 0.f;
      if (d < p.value_depth) dv[view0.v_base + j * p.v_ss + d] = 0.f;
    }
    return;
  }
  const int diag = view0.k_len - view0.q_len;

  for (int e = tid; e < kKeys * DP; e += kThreads) {
    const int j = e / DP, d = e % DP;
    // Padded keys are never read: their k and v rows stay zero, so NaN there cannot reach a result.
    const bool in = key0 + j < view0.k_len &&
                    (!p.key_valid || p.key_valid[static_cast<int64_t>(b) * p.k_seq + key0 + j] != 0);
    ks[j * S::kPitch + d] = (in && d < p.depth) ? p.k[view0.k_base + (key0 + j) * p.k_ss + d] : 0.f;
    vs[j * S::kPitch + d] = (in && d < p.value_depth) ? p.v[view0.v_base + (key0 + j) * p.v_ss + d] : 0.f;
  }

  // Accumulators: key row jr = tid / 4, columns (tid % 4) + 4c.
  constexpr int kCols = DP / 4;
  const int jr = tid / 4, jc = tid % 4;
  float dk_acc[kCols], dv_acc[kCols];
#pragma unroll
  for (int c = 0; c < kCols; ++c) dk_acc[c] = dv_acc[c] = 0.f;

  // Score tile mapping: rows ty*2 + {0,1}, key columns tx + 8c.
  const int ty = tid / 8, tx = tid % 8;
  // Causal: the first query row that sees key0.
  const int first_row = p.causal ? max(0, key0 - diag) : 0;

  for (int hg = 0; hg < group; ++hg) {
    const int h = kvh * group + hg;
    const HeadView view = MakeHeadView(p, b, h);
    for (int row0 = (first_row / kRows) * kRows; row0 < view.q_len; row0 += kRows) {
      __syncthreads();
      for (int e = tid; e < kRows * DP; e += kThreads) {
        const int r = e / DP, d = e % DP;
        const bool in = row0 + r < view.q_len;
        qs[r * S::kPitch + d] = (in && d < p.depth) ? p.q[view.q_base + (row0 + r) * p.q_ss + d] : 0.f;
        dos[r * S::kPitch + d] = (in && d < p.value_depth) ? dout[view.o_base + (row0 + r) * p.o_ss + d] : 0.f;
      }
      if (tid < kRows) {
        const int i = row0 + tid;
        const int64_t at = (static_cast<int64_t>(b) * p.heads + h) * p.q_seq + i;
        lse_s[tid] = i < view.q_len ? p.lse[at] : -INFINITY;
        delta_s[tid] = i < view.q_len ? delta[at] : 0.f;
      }
      __syncthreads();

      float sc[2][4], dp[2][4];
#pragma unroll
      for (int r = 0; r < 2; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) sc[r][c] = dp[r][c] = 0.f;
      for (int d = 0; d < DP; ++d) {
        float qv[2], dov[2], kv[4], vv[4];
#pragma unroll
        for (int r = 0; r < 2; ++r) {
          qv[r] = qs[(ty * 2 + r) * S::kPitch + d];
          dov[r] = dos[(ty * 2 + r) * S::kPitch + d];
        }
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          kv[c] = ks[(tx + 8 * c) * S::kPitch + d];
          vv[c] = vs[(tx + 8 * c) * S::kPitch + d];
        }
#pragma unroll
        for (int r = 0; r < 2; ++r)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            sc[r][c] = fmaf(qv[r], kv[c], sc[r][c]);
            dp[r][c] = fmaf(dov[r], vv[c], dp[r][c]);
          }
      }
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        const int il = ty * 2 + r, i = row0 + il;
        const float lse = lse_s[il];
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int jl = tx + 8 * c, j = key0 + jl;
          float pe = 0.f;
          if (i < view.q_len && j < view.k_len && lse != -INFINITY) {
            const float term = MaskTerm(p, view, b, h, i, j);
            if (term != -INFINITY) pe = expf(fmaf(sc[r][c], p.scale, term) - lse);
          }
          // Hidden entries get exactly 0 (not 0 * NaN when dout holds NaN).
          const float ds = pe == 0.f ? 0.f : pe * (dp[r][c] - delta_s[il]);
          ps[il * 33 + jl] = pe;
          dss[il * 33 + jl] = ds;
          if (dmask && pe != 0.f) atomicAdd(dmask + MaskOffset(p, b, h, i, j), ds);
        }
      }
      __syncthreads();

      // dV and dK for key row jr.
      for (int il = 0; il < kRows; ++il) {
        const float pe = ps[il * 33 + jr], ds = dss[il * 33 + jr];
#pragma unroll
        for (int c = 0; c < kCols; ++c) {
          dv_acc[c] = fmaf(pe, dos[il * S::kPitch + jc + 4 * c], dv_acc[c]);
          dk_acc[c] = fmaf(ds, qs[il * S::kPitch + jc + 4 * c], dk_acc[c]);
        }
      }
      // dQ rows: warp w takes rows w, w+4, ...; lane covers columns lane + 32c.
      const int warp = tid / 32, lane = tid % 32;
      for (int il = warp; il < kRows; il += kThreads / 32) {
        const int i = row0 + il;
        if (i >= view.q_len) break;
        for (int d = lane; d < p.depth; d += 32) {
          float s = 0.f;
#pragma unroll 8
          for (int jl = 0; jl < kKeys; ++jl) s = fmaf(dss[il * 33 + jl], ks[jl * S::kPitch + d], s);
          if (s != 0.f) atomicAdd(dq + view.q_base + i * p.q_ss + d, s * p.scale);
        }
      }
    }
  }

  const int j = key0 + jr;
  if (j < view0.k_len) {
#pragma unroll
    for (int c = 0; c < kCols; ++c) {
      const int d = jc + 4 * c;
      if (d < p.depth) dk[view0.k_base + j * p.k_ss + d] = dk_acc[c] * p.scale;
      if (d < p.value_depth) dv[view0.v_base + j * p.v_ss + d] = dv_acc[c];
    }
  }
}

template <int DP>
cudaError_t Launch(const AttentionParams& p, const float* dout, const float* delta, float* dq, float* dk, float* dv,
                   float* dmask, cudaStream_t stream) {
  const size_t bytes = BwdSmem<DP>::kBytes;
  cudaError_t err = cudaFuncSetAttribute(AttentionBackwardKernel<DP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.batch * p.kv_heads, (p.k_seq + kKeys - 1) / kKeys);
  AttentionBackwardKernel<DP><<<grid, kThreads, bytes, stream>>>(p, dout, delta, dq, dk, dv, dmask);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchAttentionBackward(const AttentionParams& p, const float* dout, float* delta, float* dq, float* dk, float* dv, float* dmask,
                                    cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * p.q_seq;
  if (rows > 0) {
    DeltaKernel<<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(p, dout, delta);
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess) return err;
  }
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32: return Launch<32>(p, dout, delta, dq, dk, dv, dmask, stream);
    case 64: return Launch<64>(p, dout, delta, dq, dk, dv, dmask, stream);
    default: return Launch<128>(p, dout, delta, dq, dk, dv, dmask, stream);
  }
}

}  // namespace btc
