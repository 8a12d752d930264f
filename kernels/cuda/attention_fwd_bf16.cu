// Flash attention forward, precision 'medium': both products on BF16 tensor cores
// (mma.sync m16n8k16) with FP32 accumulation; softmax statistics, output and lse in FP32.
//
// A conversion pass first writes bf16 copies of q, k and v into the workspace, laid out
// [rows, heads, DP] (DP = the instantiated depth, zero-padded; key rows whose key_valid is 0
// zeroed), so the main kernel streams 16-byte chunks with cp.async and never checks a column.
// Rows past a sequence's end are zero-filled by cp.async itself (source size 0): with packed
// (variable-length) sequences they belong to the next sequence and must not be read.
//
// Main kernel, one block of 4 warps per (batch·head, query tile), FlashAttention-2 style:
// - each warp owns 16·kMTiles query rows; their Q A-fragments are loaded once (ldmatrix) and
//   stay in registers; the output stays in mma accumulators;
// - key/value tiles of 64 rows are double-buffered in shared memory: tile t+1's keys are in
//   flight during tile t's softmax and P·V, its values during tile t+1's Q·Kᵀ;
// - S = Q·Kᵀ with K B-fragments from ldmatrix (K rows are the B matrix's columns), the online
//   softmax in registers in the exp2 domain (scale·log2 e folded into one FMA), and P goes from
//   the score accumulators straight into A-fragments: the m16n8 C layout of two adjacent key
//   tiles is exactly the m16n8k16 A layout, so P never touches shared memory;
// - O += P·V with V B-fragments from ldmatrix.trans (V rows are the B matrix's rows);
// - dead key tiles (causal, key_limit) are never loaded, fully visible tiles skip the mask rule,
//   heaviest query tiles are scheduled first.
// Shared-memory rows are DP + 8 elements apart: consecutive rows start 16 bytes further along
// the 128-byte bank window, so the 8 row addresses of every ldmatrix phase hit distinct banks
// ((DP + 8)·2 / 16 is odd for DP = 32, 64, 128).
#include <cmath>

#include <cuda_bf16.h>

#include "attention_fwd_bf16.h"
#include "attention_mask.cuh"
#include "mma_bf16.cuh"

namespace btc {
namespace {

constexpr int kWarps = 4, kThreads = kWarps * 32, kKeys = 64;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr size_t kAlign = 256;

size_t AlignUp(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

template <int DP>
struct Bf16Tile {
  // 16-row MMA tiles per warp: two where registers allow it without spilling (DP = 32: more reuse
  // of each K/V tile); at DP = 64 two spill (255 registers), at DP = 128 one already takes ~220.
  static constexpr int kMTiles = DP == 32 ? 2 : 1;
  static constexpr int kRows = kWarps * 16 * kMTiles;
  static constexpr int kPitch = DP + 8;   // elements between shared-memory rows
  static constexpr int kChunks = DP / 8;  // 16-byte chunks in a row
  static constexpr int kQ = kRows * kPitch, kKV = kKeys * kPitch;
  static constexpr size_t kBytes = sizeof(__nv_bfloat16) * (kQ + 4 * kKV);  // Q, K ×2, V ×2
  // Blocks per SM asked of ptxas: at DP = 64 three fit (46 KB shared memory, ≤ 170 registers).
  static constexpr int kMinBlocks = DP == 64 ? 3 : 2;
};

// The bf16 copies, [rows, heads, DP] each.
struct Bf16View {
  const __nv_bfloat16* q;
  const __nv_bfloat16* k;
  const __nv_bfloat16* v;
};

// ---- fp32 → bf16 conversion ----

struct ConvertArgs {
  const float* src;
  int64_t sb, sh, ss;  // source element strides (batch, head, row)
  int heads, seq, depth;
  bool packed;                // rows are packed tokens (seq_offsets): row r starts at r·ss
  const uint8_t* key_valid;   // [B, key_valid_seq] or null: rows whose entry is 0 become zeros
  int64_t key_valid_seq;
  __nv_bfloat16* dst;         // [rows, heads, DP]
  int64_t rows;
};

template <int DP>
__global__ void ConvertToBf16Kernel(ConvertArgs a) {
  constexpr int kChunks = DP / 8;
  const int64_t total = a.rows * a.heads * kChunks;
  for (int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; idx < total;
       idx += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int ch = static_cast<int>(idx % kChunks);
    const int64_t row_head = idx / kChunks;
    const int h = static_cast<int>(row_head % a.heads);
    const int64_t row = row_head / a.heads;
    int64_t at;
    bool valid = true;
    if (a.packed) {
      at = row * a.ss + h * a.sh;
    } else {
      const int64_t b = row / a.seq, i = row % a.seq;
      at = b * a.sb + h * a.sh + i * a.ss;
      if (a.key_valid) valid = a.key_valid[b * a.key_valid_seq + i] != 0;
    }
    float f[8];
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int d = ch * 8 + e;
      f[e] = (valid && d < a.depth) ? a.src[at + d] : 0.f;
    }
    const uint4 packed = make_uint4(PackBf16(f[0], f[1]), PackBf16(f[2], f[3]), PackBf16(f[4], f[5]),
                                    PackBf16(f[6], f[7]));
    *reinterpret_cast<uint4*>(a.dst + row_head * DP + ch * 8) = packed;
  }
}

template <int DP>
cudaError_t Convert(const ConvertArgs& a, cudaStream_t stream) {
  const int64_t total = a.rows * a.heads * (DP / 8);
  if (total == 0) return cudaSuccess;
  const int64_t blocks = (total + 255) / 256;
  const int grid = static_cast<int>(blocks < 65535LL * 16 ? blocks : 65535LL * 16);
  ConvertToBf16Kernel<DP><<<grid, 256, 0, stream>>>(a);
  return cudaGetLastError();
}

// ---- main kernel ----

// Rows [first, first + rows) of a bf16 view (row stride `stride` elements) into shared memory;
// rows at or past `valid` are zero-filled without a read.
template <int DP>
__device__ inline void LoadRows(__nv_bfloat16* dst, const __nv_bfloat16* src, int64_t stride, int first, int valid,
                                int rows, int tid) {
  using T = Bf16Tile<DP>;
  for (int c = tid; c < rows * T::kChunks; c += kThreads) {
    const int r = c / T::kChunks, ch = c % T::kChunks;
    const bool in = first + r < valid;
    const __nv_bfloat16* from = in ? src + static_cast<int64_t>(first + r) * stride + ch * 8 : src;
    CpAsync16(dst + r * T::kPitch + ch * 8, from, in ? 16 : 0);
  }
}

template <int DP>
__global__ void __launch_bounds__(kThreads, Bf16Tile<DP>::kMinBlocks) AttentionForwardBf16Kernel(AttentionParams p, Bf16View ops) {
  using T = Bf16Tile<DP>;
  constexpr int kMT = T::kMTiles, kRows = T::kRows, kPitch = T::kPitch;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  __nv_bfloat16* qs = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  __nv_bfloat16* ks = qs + T::kQ;       // two buffers of kKV
  __nv_bfloat16* vs = ks + 2 * T::kKV;  // two buffers of kKV

  const int bh = blockIdx.x;
  const int b = bh / p.heads, h = bh % p.heads;
  const HeadView view = MakeHeadView(p, b, h);
  const int row0 = (gridDim.y - 1 - blockIdx.y) * kRows;
  if (row0 >= view.q_len) return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int row_last = min(row0 + kRows, view.q_len) - 1;
  const int key_end = VisibleKeyEnd(p, view, row_last);
  const int tiles = (key_end + kKeys - 1) / kKeys;
  const int kvh = h / (p.heads / p.kv_heads);
  const int64_t q_first = p.seq_offsets ? p.seq_offsets[b] : static_cast<int64_t>(b) * p.q_seq;
  const int64_t k_first = p.seq_offsets ? p.seq_offsets[b] : static_cast<int64_t>(b) * p.k_seq;
  const int64_t q_stride = static_cast<int64_t>(p.heads) * DP, k_stride = static_cast<int64_t>(p.kv_heads) * DP;
  const __nv_bfloat16* qg = ops.q + q_first * q_stride + h * DP;
  const __nv_bfloat16* kg = ops.k + k_first * k_stride + kvh * DP;
  const __nv_bfloat16* vg = ops.v + k_first * k_stride + kvh * DP;

  // Commit groups, oldest first: {Q, K0}, {V0}; then per tile t: {K(t+1)}, {V(t+1)} (empty past the
  // last tile, so every wait below counts the same groups).
  if (tiles > 0) {
    LoadRows<DP>(qs, qg, q_stride, row0, view.q_len, kRows, tid);
    LoadRows<DP>(ks, kg, k_stride, 0, view.k_len, kKeys, tid);
    CpAsyncCommit();
    LoadRows<DP>(vs, vg, k_stride, 0, view.k_len, kKeys, tid);
    CpAsyncCommit();
  }

  const int warp_row = warp * 16 * kMT;  // the warp's first row within the block
  const int diag = view.k_len - view.q_len;
  const float scale2 = p.scale * kLog2e;
  uint32_t qa[kMT][DP / 16][4];
  float oacc[kMT][DP / 8][4];
  float m[kMT][2], l[kMT][2];  // running max (log2 domain) and this thread's part of the row sum
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int n = 0; n < DP / 8; ++n) oacc[mt][n][0] = oacc[mt][n][1] = oacc[mt][n][2] = oacc[mt][n][3] = 0.f;
    m[mt][0] = m[mt][1] = -INFINITY;
    l[mt][0] = l[mt][1] = 0.f;
  }

  for (int tile = 0; tile < tiles; ++tile) {
    const int key0 = tile * kKeys;
    const __nv_bfloat16* kt = ks + (tile & 1) * T::kKV;
    const __nv_bfloat16* vt = vs + (tile & 1) * T::kKV;
    // Pending here: {K(tile)} (with Q at tile 0) and {V(tile)}: wait for all but the newest.
    CpAsyncWait<1>();
    __syncthreads();  // K(tile) visible to every warp; every warp is done with the K buffer loaded next
    if (tile == 0) {
      // A fragments of Q: matrices (rows 0-7 | 8-15) × (columns 0-7 | 8-15) of each 16×16 block,
      // lane l addressing row l % 16, column 8·(l / 16): registers a0..a3 in order.
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
        for (int kk = 0; kk < DP / 16; ++kk) {
          LdMatrixX4(qa[mt][kk], qs + (warp_row + mt * 16 + (lane & 15)) * kPitch + kk * 16 + (lane >> 4) * 8);
        }
      }
    }

    float sacc[kMT][kKeys / 8][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) sacc[mt][n][0] = sacc[mt][n][1] = sacc[mt][n][2] = sacc[mt][n][3] = 0.f;
    }
#pragma unroll
    for (int kk = 0; kk < DP / 16; ++kk) {
#pragma unroll
      for (int np = 0; np < kKeys / 16; ++np) {
        // B fragments of two key tiles (keys 16np..16np+15) for depth block kk: lane l addresses key
        // 16np + l % 8 + 8·(l / 16), column 16kk + 8·((l / 8) % 2), so registers are b0, b1 of key
        // tile 2np and b0, b1 of key tile 2np + 1 (a K row holds one B column: pair (n = g, k = 2t..)).
        uint32_t kb[4];
        LdMatrixX4(kb, kt + (np * 16 + (lane & 7) + ((lane >> 4) << 3)) * kPitch + kk * 16 + ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          MmaBf16(sacc[mt][2 * np], qa[mt][kk], kb[0], kb[1]);
          MmaBf16(sacc[mt][2 * np + 1], qa[mt][kk], kb[2], kb[3]);
        }
      }
    }
    if (tile + 1 < tiles) {
      LoadRows<DP>(ks + ((tile + 1) & 1) * T::kKV, kg, k_stride, key0 + kKeys, view.k_len, kKeys, tid);
    }
    CpAsyncCommit();

    // Tiles wholly visible to every row of the block skip the per-element mask rule.
    const bool plain = p.mask_kind == 0 && !p.key_valid && key0 + kKeys <= view.k_end &&
                       (!p.causal || key0 + kKeys - 1 <= row0 + diag);
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const int i = row0 + warp_row + mt * 16 + g + 8 * half;
        float tile_max = -INFINITY;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            float& s = sacc[mt][n][half * 2 + c];
            if (plain) {
              s *= scale2;
            } else {
              const int j = key0 + n * 8 + 2 * t + c;
              const float term = i < view.q_len ? MaskTerm(p, view, b, h, i, j) : -INFINITY;
              s = term == -INFINITY ? -INFINITY : fmaf(s, scale2, term * kLog2e);
            }
            tile_max = fmaxf(tile_max, s);
          }
        }
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        const float m_new = fmaxf(m[mt][half], tile_max);
        const float ref = m_new == -INFINITY ? 0.f : m_new;  // no visible key yet: exp2 gives 0, not NaN
        const float alpha = exp2f(m[mt][half] - ref);
        float row_sum = 0.f;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
          for (int c = 0; c < 2; ++c) {
            float& s = sacc[mt][n][half * 2 + c];
            s = exp2f(s - ref);
            row_sum += s;
          }
        }
        // The max is shared by the quad, so each thread's partial sums add up at the end.
        l[mt][half] = l[mt][half] * alpha + row_sum;
        m[mt][half] = m_new;
#pragma unroll
        for (int n = 0; n < DP / 8; ++n) {
          oacc[mt][n][half * 2] *= alpha;
          oacc[mt][n][half * 2 + 1] *= alpha;
        }
      }
    }

    // Pending: {V(tile)}, {K(tile + 1)}.
    CpAsyncWait<1>();
    __syncthreads();  // V(tile) visible to every warp; every warp is done with the V buffer loaded next
#pragma unroll
    for (int kc = 0; kc < kKeys / 16; ++kc) {
      // P as A fragments: key tiles 2kc (columns 0-7) and 2kc + 1 (columns 8-15) of the scores.
      uint32_t pa[kMT][4];
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        pa[mt][0] = PackBf16(sacc[mt][2 * kc][0], sacc[mt][2 * kc][1]);
        pa[mt][1] = PackBf16(sacc[mt][2 * kc][2], sacc[mt][2 * kc][3]);
        pa[mt][2] = PackBf16(sacc[mt][2 * kc + 1][0], sacc[mt][2 * kc + 1][1]);
        pa[mt][3] = PackBf16(sacc[mt][2 * kc + 1][2], sacc[mt][2 * kc + 1][3]);
      }
#pragma unroll
      for (int nd = 0; nd < DP / 16; ++nd) {
        // B fragments of two depth tiles (columns 16nd..16nd+15) for keys 16kc..16kc+15, transposed:
        // lane l addresses key 16kc + l % 8 + 8·((l / 8) % 2), column 16nd + 8·(l / 16), so registers
        // are b0, b1 of depth tile 2nd and b0, b1 of depth tile 2nd + 1.
        uint32_t vb[4];
        LdMatrixX4Trans(vb, vt + (kc * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kPitch + nd * 16 + (lane >> 4) * 8);
#pragma unroll
        for (int mt = 0; mt < kMT; ++mt) {
          MmaBf16(oacc[mt][2 * nd], pa[mt], vb[0], vb[1]);
          MmaBf16(oacc[mt][2 * nd + 1], pa[mt], vb[2], vb[3]);
        }
      }
    }
    if (tile + 1 < tiles) {
      LoadRows<DP>(vs + ((tile + 1) & 1) * T::kKV, vg, k_stride, key0 + kKeys, view.k_len, kKeys, tid);
    }
    CpAsyncCommit();
  }
  CpAsyncWait<0>();  // nothing left in flight (the last groups are empty)

#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float sum = l[mt][half];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int i = row0 + warp_row + mt * 16 + g + 8 * half;
      if (i >= view.q_len) continue;
      const bool empty = m[mt][half] == -INFINITY && sum == 0.f;  // NaN keeps the sum NaN and propagates
      const float inv = empty ? 0.f : 1.f / sum;
      float* orow = p.out + view.o_base + static_cast<int64_t>(i) * p.o_ss;
#pragma unroll
      for (int n = 0; n < DP / 8; ++n) {
#pragma unroll
        for (int c = 0; c < 2; ++c) {
          const int d = n * 8 + 2 * t + c;
          if (d < p.value_depth) orow[d] = empty ? 0.f : oacc[mt][n][half * 2 + c] * inv;
        }
      }
      if (p.lse && t == 0) {
        p.lse[(static_cast<int64_t>(b) * p.heads + h) * p.q_seq + i] =
            empty ? -INFINITY : (m[mt][half] + log2f(sum)) * kLn2;
      }
    }
  }
}

template <int DP>
cudaError_t Run(const AttentionParams& p, Bf16Rows rows, void* workspace, cudaStream_t stream) {
  char* base = static_cast<char*>(workspace);
  const size_t q_bytes = AlignUp(static_cast<size_t>(rows.q_rows * p.heads) * DP * sizeof(__nv_bfloat16));
  const size_t k_bytes = AlignUp(static_cast<size_t>(rows.k_rows * p.kv_heads) * DP * sizeof(__nv_bfloat16));
  auto* q = reinterpret_cast<__nv_bfloat16*>(base);
  auto* k = reinterpret_cast<__nv_bfloat16*>(base + q_bytes);
  auto* v = reinterpret_cast<__nv_bfloat16*>(base + q_bytes + k_bytes);
  const bool packed = p.seq_offsets != nullptr;
  ConvertArgs a{p.q, p.q_sb, p.q_sh, p.q_ss, p.heads, p.q_seq, p.depth, packed, nullptr, 0, q, rows.q_rows};
  cudaError_t err = Convert<DP>(a, stream);
  if (err != cudaSuccess) return err;
  a = ConvertArgs{p.k, p.k_sb, p.k_sh, p.k_ss, p.kv_heads, p.k_seq, p.depth, packed, p.key_valid, p.k_seq, k,
                  rows.k_rows};
  if ((err = Convert<DP>(a, stream)) != cudaSuccess) return err;
  a = ConvertArgs{p.v, p.v_sb, p.v_sh, p.v_ss, p.kv_heads, p.k_seq, p.value_depth, packed, p.key_valid, p.k_seq, v,
                  rows.k_rows};
  if ((err = Convert<DP>(a, stream)) != cudaSuccess) return err;

  const size_t bytes = Bf16Tile<DP>::kBytes;
  err = cudaFuncSetAttribute(AttentionForwardBf16Kernel<DP>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  const dim3 grid(p.batch * p.heads, (p.q_seq + Bf16Tile<DP>::kRows - 1) / Bf16Tile<DP>::kRows);
  AttentionForwardBf16Kernel<DP><<<grid, kThreads, bytes, stream>>>(p, Bf16View{q, k, v});
  return cudaGetLastError();
}

}  // namespace

bool AttentionBf16Supports(const AttentionParams& p) { return p.k_lens == nullptr && p.q_lens == nullptr; }

size_t AttentionBf16WorkspaceBytes(const AttentionParams& p, Bf16Rows rows) {
  const size_t dp = static_cast<size_t>(PaddedDepth(p.depth, p.value_depth));
  const size_t q = AlignUp(static_cast<size_t>(rows.q_rows) * static_cast<size_t>(p.heads) * dp * 2);
  const size_t k = AlignUp(static_cast<size_t>(rows.k_rows) * static_cast<size_t>(p.kv_heads) * dp * 2);
  return q + 2 * k;
}

cudaError_t LaunchAttentionForwardBf16(const AttentionParams& p, Bf16Rows rows, void* workspace,
                                       cudaStream_t stream) {
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32: return Run<32>(p, rows, workspace, stream);
    case 64: return Run<64>(p, rows, workspace, stream);
    default: return Run<128>(p, rows, workspace, stream);
  }
}

}  // namespace btc
