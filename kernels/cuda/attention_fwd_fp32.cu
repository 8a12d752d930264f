// Flash attention forward, precision 'highest': FP32 FMA on CUDA cores.
// A block of 128 threads owns 32 query rows of one (batch, head); key/value
// tiles of 64 rows stream through shared memory with an online softmax, so the
// score matrix never leaves the chip. Thread (ty, tx) of the 8 x 16 grid holds
// rows 4ty..4ty+3 against keys 4tx..4tx+3 of the score tile, and the same rows
// of the output for its DP/16 columns; a row's 16 threads sit in one half-warp.
// Q, K and P are stored transposed (depth- or key-major) so every inner-loop
// operand is one 16-byte shared-memory load: 2 loads per 16 FMAs.
#include <cmath>

#include "attention_mask.cuh"
#include "attention_params.h"

namespace btc {
namespace {

constexpr int kRows = 32, kKeys = 64, kThreads = 128;

template <int DP>
struct Fp32Smem {
  static constexpr int kQPitch = kRows + 4;  // Qt [DP][rows]
  static constexpr int kKPitch = kKeys + 4;  // Kt [DP][keys]
  static constexpr int kVPitch = DP + 4;     // V  [keys][DP]
  static constexpr int kPPitch = kRows + 4;  // Pt [keys][rows]
  static constexpr int kQ = DP * kQPitch, kK = DP * kKPitch, kV = kKeys * kVPitch, kP = kKeys * kPPitch;
  static constexpr size_t kBytes = sizeof(float) * (kQ + kK + kV + kP);
  // Output columns per thread, loaded as vectors of kVec floats: DP/16 in all.
  static constexpr int kVec = DP / 16 < 4 ? DP / 16 : 4;
  static constexpr int kChunks = DP / 16 / kVec;
};

template <int N>
struct VecOf;
template <>
struct VecOf<2> {
  using T = float2;
  __device__ static void Get(const float* p, float* out) {
    const float2 v = *reinterpret_cast<const float2*>(p);
    out[0] = v.x; out[1] = v.y;
  }
};
template <>
struct VecOf<4> {
  using T = float4;
  __device__ static void Get(const float* p, float* out) {
    const float4 v = *reinterpret_cast<const float4*>(p);
    out[0] = v.x; out[1] = v.y; out[2] = v.z; out[3] = v.w;
  }
};

// The minimum of 4 blocks per SM only lifts ptxas's register target (unset, it settles near 96
// registers and spills at DP = 64); shared memory allows 2 blocks at DP = 128.
template <int DP>
__global__ void __launch_bounds__(kThreads, 4) AttentionForwardFp32Kernel(AttentionParams p) {
  extern __shared__ __align__(16) float smem[];
  using S = Fp32Smem<DP>;
  float* qt = smem;
  float* kt = qt + S::kQ;
  float* vs = kt + S::kK;
  float* pt = vs + S::kV;

  const int bh = blockIdx.x;
  const int b = bh / p.heads, h = bh % p.heads;
  const HeadView view = MakeHeadView(p, b, h);
  // Heavy (late, for causal) row blocks first.
  const int row0 = (gridDim.y - 1 - blockIdx.y) * kRows;
  if (row0 >= view.q_len) return;
  const int tid = threadIdx.x, ty = tid / 16, tx = tid % 16;
  const int row_last = min(row0 + kRows, view.q_len) - 1;
  const int key_end = VisibleKeyEnd(p, view, row_last);
  const int diag = view.k_len - view.q_len;

  for (int e = tid; e < kRows * DP; e += kThreads) {
    const int r = e / DP, d = e % DP;
    qt[d * S::kQPitch + r] = (row0 + r < view.q_len && d < p.depth) ? p.q[view.q_base + (row0 + r) * p.q_ss + d] : 0.f;
  }

  // Output column of chunk ch, element v: kVec*tx + 16*kVec*ch + v.
  float acc[4][S::kChunks][S::kVec];
  float m[4], l[4];
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.f;
#pragma unroll
    for (int ch = 0; ch < S::kChunks; ++ch)
#pragma unroll
      for (int v = 0; v < S::kVec; ++v) acc[r][ch][v] = 0.f;
  }

  for (int key0 = 0; key0 < key_end; key0 += kKeys) {
    __syncthreads();  // previous tile fully consumed (and Q stored, on the first pass)
    for (int e = tid; e < kKeys * DP; e += kThreads) {
      const int j = e / DP, d = e % DP;
      // Padded keys are never read: their k and v rows stay zero, so NaN there cannot reach a result.
      const bool in = key0 + j < view.k_len &&
                      (!p.key_valid || p.key_valid[static_cast<int64_t>(b) * p.k_seq + key0 + j] != 0);
      kt[d * S::kKPitch + j] = (in && d < p.depth) ? p.k[view.k_base + (key0 + j) * p.k_ss + d] : 0.f;
      vs[j * S::kVPitch + d] = (in && d < p.value_depth) ? p.v[view.v_base + (key0 + j) * p.v_ss + d] : 0.f;
    }
    __syncthreads();

    float s[4][4];
#pragma unroll
    for (int r = 0; r < 4; ++r)
#pragma unroll
      for (int c = 0; c < 4; ++c) s[r][c] = 0.f;
#pragma unroll 8
    for (int d = 0; d < DP; ++d) {
      float qv[4], kv[4];
      VecOf<4>::Get(qt + d * S::kQPitch + 4 * ty, qv);
      VecOf<4>::Get(kt + d * S::kKPitch + 4 * tx, kv);
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int c = 0; c < 4; ++c) s[r][c] = fmaf(qv[r], kv[c], s[r][c]);
    }

    // Tiles wholly visible to every row of the block skip the per-element mask rule.
    const bool plain = p.mask_kind == 0 && !p.key_valid && key0 + kKeys <= view.k_end &&
                       (!p.causal || key0 + kKeys - 1 <= row0 + diag);
    float pe[4][4];
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int i = row0 + ty * 4 + r;
      float tile_max = -INFINITY;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int j = key0 + 4 * tx + c;
        const float term = plain ? 0.f : (i < view.q_len ? MaskTerm(p, view, b, h, i, j) : -INFINITY);
        s[r][c] = term == -INFINITY ? -INFINITY : fmaf(s[r][c], p.scale, term);
        tile_max = fmaxf(tile_max, s[r][c]);
      }
#pragma unroll
      for (int off = 8; off > 0; off >>= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, off));
      const float m_new = fmaxf(m[r], tile_max);
      // A row that has seen no visible key keeps m = -inf; use 0 as the reference so exp gives 0, not NaN.
      const float ref = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = expf(m[r] - ref);
      float row_sum = 0.f;
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        pe[r][c] = expf(s[r][c] - ref);
        row_sum += pe[r][c];
      }
#pragma unroll
      for (int off = 8; off > 0; off >>= 1) row_sum += __shfl_xor_sync(0xffffffffu, row_sum, off);
      l[r] = l[r] * alpha + row_sum;
      m[r] = m_new;
#pragma unroll
      for (int ch = 0; ch < S::kChunks; ++ch)
#pragma unroll
        for (int v = 0; v < S::kVec; ++v) acc[r][ch][v] *= alpha;
    }
    // Pt[key][row]: this thread's 4 keys, each with its 4 rows as one vector.
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      *reinterpret_cast<float4*>(pt + (4 * tx + c) * S::kPPitch + 4 * ty) =
          make_float4(pe[0][c], pe[1][c], pe[2][c], pe[3][c]);
    }
    __syncwarp();  // a row's P is written and read by the same half-warp
#pragma unroll 4
    for (int j = 0; j < kKeys; ++j) {
      float pv[4];
      VecOf<4>::Get(pt + j * S::kPPitch + 4 * ty, pv);
#pragma unroll
      for (int ch = 0; ch < S::kChunks; ++ch) {
        float vv[S::kVec];
        VecOf<S::kVec>::Get(vs + j * S::kVPitch + S::kVec * tx + 16 * S::kVec * ch, vv);
#pragma unroll
        for (int r = 0; r < 4; ++r)
#pragma unroll
          for (int v = 0; v < S::kVec; ++v) acc[r][ch][v] = fmaf(pv[r], vv[v], acc[r][ch][v]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int i = row0 + ty * 4 + r;
    if (i >= view.q_len) continue;
    // No visible key at all (a NaN score keeps l NaN, so NaN still propagates).
    const bool empty = m[r] == -INFINITY && l[r] == 0.f;
    const float inv = empty ? 0.f : 1.f / l[r];
#pragma unroll
    for (int ch = 0; ch < S::kChunks; ++ch)
#pragma unroll
      for (int v = 0; v < S::kVec; ++v) {
        const int d = S::kVec * tx + 16 * S::kVec * ch + v;
        if (d < p.value_depth) p.out[view.o_base + i * p.o_ss + d] = empty ? 0.f : acc[r][ch][v] * inv;
      }
    if (p.lse && tx == 0) {
      p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.q_seq + i] = empty ? -INFINITY : m[r] + logf(l[r]);
    }
  }
}

template <int DP>
cudaError_t Launch(const AttentionParams& p, cudaStream_t stream) {
  const size_t bytes = Fp32Smem<DP>::kBytes;
  cudaError_t err = cudaFuncSetAttribute(AttentionForwardFp32Kernel<DP>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.batch * p.heads, (p.q_seq + kRows - 1) / kRows);
  AttentionForwardFp32Kernel<DP><<<grid, kThreads, bytes, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchAttentionForwardFp32(const AttentionParams& p, cudaStream_t stream) {
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32: return Launch<32>(p, stream);
    case 64: return Launch<64>(p, stream);
    default: return Launch<128>(p, stream);
  }
}

}  // namespace btc
