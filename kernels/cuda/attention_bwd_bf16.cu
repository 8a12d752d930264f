// Flash attention backward, precision 'medium': the five products on BF16
// tensor cores (mma.sync m16n8k16, FP32 accumulation), softmax statistics,
// delta, P and dS in FP32 (P and dS rounded to bf16 only as mma operands).
//
// 1) Pre-pass (one warp per row): delta = rowsum(dout·out) in FP32 from the FP32
//    tensors, and bf16 copies of q, dout ([B, H, Sq, DP]) and k, v ([B, Hkv, Sk, DP])
//    in the scratch: head dim zero-padded to DP, key rows that can never be visible
//    (key_valid 0, at or past key_limit) zeroed, so NaN there cannot reach a result.
// 2) One block of W warps per (batch, kv head, 16·W keys), W = kBlockWarps = 8; warp w owns
//    keys 16w..16w+15 of the block.
//    K and V tiles stay in shared memory; the block walks the query heads of its GQA
//    group and, per head, the BR-row query tiles that can see its keys (causal: from
//    the first row on the diagonal), Q/dO tiles double-buffered with cp.async. Per
//    tile each warp computes, on its 16 keys,
//      Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ                      (A: K/V rows, B: Q/dO rows, ldmatrix)
//      Pᵀ = exp(scale·Sᵀ + mask − lse), dSᵀ = Pᵀ∘(dPᵀ − delta)   (FP32, in registers)
//      dV += Pᵀ·dO, dK += dSᵀ·Q                     (A: Pᵀ/dSᵀ straight from the C fragments,
//                                                    B: Q/dO through ldmatrix.trans)
//    dK, dV stay in registers for the whole block (the block owns its keys: no atomics).
//    dSᵀ goes to shared memory; after a barrier the W warps compute the tile's
//    dQ = dS·K (A: dSᵀ through ldmatrix.trans, B: K through ldmatrix.trans) and add it
//    with FP32 atomics (red.global.add) into the zeroed dq. The additive mask's
//    gradient is added per visible element, as in the FP32 kernel.
//
// dQ by atomics rather than a second pass: a dQ pass would recompute Sᵀ and dPᵀ (two of
// the five products again, +40% tensor work, plus a second read of K, V, Q, dO), while
// the atomics cost Sq·D adds per 128-key block, i.e. one add per 128·5 = 640 multiply-adds
// per (query, dim) pair, spread over the whole of dq; they go to L2 as fire-and-forget
// reductions (on sm_90 two floats per red.global.add.v2.f32 where dq's layout allows) that
// overlap the next tile's products.
//
// Shared-memory pitches: K, V, Q, dO rows DP + 8 bf16 ((DP + 8)·2 bytes = 80, 144 or 272,
// an odd multiple of 16), dSᵀ rows BR + 8 (80 or 144 bytes, odd multiples of 16). Every
// ldmatrix phase reads 8 rows at one column offset, so its 8 16-byte segments fall in
// 8 distinct 16-byte bank groups: conflict-free. The dSᵀ stores (32-bit, key row g or
// g+8, word 8kk + t (+4)) hit bank (g·PW + t + c) mod 32 with PW = (BR + 8)/2 words = 36
// or 20: 4g + t, or 20g + t, distinct over the 32 lanes.
#include <cmath>
#include <cstdint>

#include "attention_bwd_bf16.h"
#include "attention_mask.cuh"
#include "attention_params.h"
#include "mma_bf16.cuh"

namespace btc {
namespace {

constexpr float kLog2e = 1.4426950408889634f;
// Warps per block (a block owns 16 keys per warp). 8 warps = 128 keys: dQ's atomics (one per query
// row, dim and key block) and the Q/dO tile loads per product halve against 4 warps = 64 keys,
// at one block of 8 warps per SM instead of two of 4 (registers bind both ways).
constexpr int kBlockWarps = 8;

size_t Align256(size_t x) { return (x + 255) / 256 * 256; }

struct ScratchLayout {
  size_t q, dout, k, v, total;  // byte offsets of the bf16 copies
};

ScratchLayout Layout(const AttentionParams& p) {
  const size_t dp = static_cast<size_t>(PaddedDepth(p.depth, p.value_depth));
  const size_t q_rows = static_cast<size_t>(p.batch) * p.heads * p.q_seq;
  const size_t k_rows = static_cast<size_t>(p.batch) * p.kv_heads * p.k_seq;
  ScratchLayout l;
  l.q = 0;
  l.dout = l.q + Align256(q_rows * dp * 2);
  l.k = l.dout + Align256(q_rows * dp * 2);
  l.v = l.k + Align256(k_rows * dp * 2);
  l.total = l.v + Align256(k_rows * dp * 2);
  return l;
}

// One warp per row: rows [0, B·H·Sq) are query rows (delta, q and dout copies), the next
// B·Hkv·Sk rows key rows (k and v copies). Lane c writes bf16 pairs c, c + 32, ... of the row.
template <int DP>
__global__ void __launch_bounds__(256) ConvertKernel(AttentionParams p, const float* dout, float* delta,
                                                     uint32_t* qb, uint32_t* dob, uint32_t* kb, uint32_t* vb) {
  constexpr int kPairs = DP / 2;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int64_t q_rows = static_cast<int64_t>(p.batch) * p.heads * p.q_seq;
  const int64_t k_rows = static_cast<int64_t>(p.batch) * p.kv_heads * p.k_seq;
  if (row < q_rows) {
    const int i = static_cast<int>(row % p.q_seq);
    const int64_t bh = row / p.q_seq;
    const int b = static_cast<int>(bh / p.heads), h = static_cast<int>(bh % p.heads);
    const float* q = p.q + (b * p.q_sb + h * p.q_sh + i * p.q_ss);
    const int64_t o = b * p.o_sb + h * p.o_sh + i * p.o_ss;
    const float* dorow = dout + o;
    const float* orow = p.out + o;
    float s = 0.f;
    for (int d = lane; d < p.value_depth; d += 32) s = fmaf(dorow[d], orow[d], s);
    for (int off = 16; off > 0; off >>= 1) s += __shfl_xor_sync(0xffffffffu, s, off);
    if (lane == 0) delta[row] = s;
    uint32_t* qdst = qb + row * kPairs;
    uint32_t* ddst = dob + row * kPairs;
    for (int c = lane; c < kPairs; c += 32) {
      const int d = 2 * c;
      qdst[c] = PackBf16(d < p.depth ? q[d] : 0.f, d + 1 < p.depth ? q[d + 1] : 0.f);
      ddst[c] = PackBf16(d < p.value_depth ? dorow[d] : 0.f, d + 1 < p.value_depth ? dorow[d + 1] : 0.f);
    }
  } else if (row < q_rows + k_rows) {
    const int64_t r = row - q_rows;
    const int j = static_cast<int>(r % p.k_seq);
    const int64_t bk = r / p.k_seq;
    const int b = static_cast<int>(bk / p.kv_heads), kvh = static_cast<int>(bk % p.kv_heads);
    int k_end = p.k_seq;
    if (p.key_limit) {
      const int lim = p.key_limit[b];
      k_end = lim < k_end ? (lim < 0 ? 0 : lim) : k_end;
    }
    const bool keep = j < k_end && (!p.key_valid || p.key_valid[static_cast<int64_t>(b) * p.k_seq + j] != 0);
    const float* k = p.k + (b * p.k_sb + kvh * p.k_sh + j * p.k_ss);
    const float* v = p.v + (b * p.v_sb + kvh * p.v_sh + j * p.v_ss);
    uint32_t* kdst = kb + r * kPairs;
    uint32_t* vdst = vb + r * kPairs;
    for (int c = lane; c < kPairs; c += 32) {
      const int d = 2 * c;
      kdst[c] = PackBf16(keep && d < p.depth ? k[d] : 0.f, keep && d + 1 < p.depth ? k[d + 1] : 0.f);
      vdst[c] = PackBf16(keep && d < p.value_depth ? v[d] : 0.f, keep && d + 1 < p.value_depth ? v[d + 1] : 0.f);
    }
  }
}

template <int DP, int BR, int BC>
struct Bf16BwdSmem {
  static constexpr int kP = DP + 8;   // K, V, Q, dO row pitch (bf16)
  static constexpr int kPS = BR + 8;  // dSᵀ row pitch (bf16)
  static constexpr int kKeys = BC;
  static constexpr int kKV = kKeys * kP, kQT = BR * kP, kDS = kKeys * kPS;
  // K, V; Q and dO twice (double buffer); dSᵀ; then FP32 −lse·log2(e) and delta, twice each.
  static constexpr int kHalves = 2 * kKV + 4 * kQT + kDS;
  static constexpr size_t kBytes = 2 * static_cast<size_t>(kHalves) + sizeof(float) * 4 * BR;
};

// Lane address patterns of ldmatrix.x4 (lane L gives a row address of matrix m = L / 8):
//  "A-style" row (L & 7) + 8·((L >> 3) & 1), column 8·(L >> 4): matrices (rows +0, cols +0),
//    (rows +8, cols +0), (rows +0, cols +8), (rows +8, cols +8). Used for
//    - K, V as the A operand of Sᵀ, dPᵀ (plain): rows = keys, cols = depth → a0, a1, a2, a3;
//    - Q, dO as the B operand of dK, dV (.trans, k = query, n = depth): r0 = b0 (queries 0..7,
//      depth block nd), r1 = b1 (queries 8..15), r2, r3 = b0, b1 of depth block nd + 1;
//    - K as the B operand of dQ (.trans, k = key, n = depth): same shape, rows = keys.
//  "B-style" row (L & 7) + 8·(L >> 4), column 8·((L >> 3) & 1): matrices (rows +0, cols +0),
//    (rows +0, cols +8), (rows +8, cols +0), (rows +8, cols +8). Used for
//    - Q, dO as the B operand of Sᵀ, dPᵀ (plain, k = depth, n = query): r0 = b0 (depth 0..7 of
//      query block n), r1 = b1 (depth 8..15), r2, r3 = b0, b1 of query block n + 1;
//    - dSᵀ [key][query] as the A operand of dQ (.trans, rows = queries, k = keys): stored
//      rows = keys, so (keys +0, queries +0) → a0, (keys +0, queries +8) → a1,
//      (keys +8, queries +0) → a2, (keys +8, queries +8) → a3.
template <int DP, int BR, int W>
__global__ void __launch_bounds__(W * 32, 8 / W)
    AttentionBackwardBf16Kernel(AttentionParams p, const float* delta, const uint16_t* qb, const uint16_t* dob,
                                const uint16_t* kb, const uint16_t* vb, float* dq, float* dk, float* dv,
                                float* dmask) {
  constexpr int kWarps = W, kThreads = W * 32, kKeys = 16 * W;  // a block owns 16·W keys
  using S = Bf16BwdSmem<DP, BR, kKeys>;
  constexpr int kP = S::kP, kPS = S::kPS;
  constexpr int NT = BR / 8;         // query blocks of 8 (n) in Sᵀ, dPᵀ
  constexpr int KQ = BR / 16;        // query steps of 16 (k) in dV, dK
  constexpr int ND = DP / 8;         // depth blocks of 8 (n) in dK, dV
  constexpr int KD = DP / 16;        // depth steps of 16 (k) in Sᵀ, dPᵀ
  constexpr int RG = BR / 16;        // dQ: 16-row groups of the query tile
  constexpr int CS = kWarps / RG;    // dQ: column slices per row group
  constexpr int NC = DP / CS;        // dQ: depth columns per warp
  constexpr int kChunks = DP / 8;    // 16-byte chunks per bf16 row
  static_assert(NT % 2 == 0 && ND % 2 == 0 && (NC / 8) % 2 == 0 && RG * CS == kWarps, "tile shape");

  extern __shared__ __align__(16) unsigned char smem[];
  uint16_t* ks = reinterpret_cast<uint16_t*>(smem);
  uint16_t* vs = ks + S::kKV;
  uint16_t* qs = vs + S::kKV;        // 2 buffers of BR rows
  uint16_t* dos = qs + 2 * S::kQT;   // 2 buffers of BR rows
  uint16_t* dss = dos + 2 * S::kQT;  // dSᵀ [key][query]
  float* nl2s = reinterpret_cast<float*>(dss + S::kDS);  // 2 × BR: −lse·log2(e), +inf where the row sees nothing
  float* dls = nl2s + 2 * BR;                            // 2 × BR: delta

  const int group = p.heads / p.kv_heads;
  const int b = blockIdx.x / p.kv_heads, kvh = blockIdx.x % p.kv_heads;
  const int key0 = blockIdx.y * kKeys;
  const HeadView view0 = MakeHeadView(p, b, kvh * group);
  if (key0 >= view0.k_len) return;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, g = lane / 4, t = lane % 4;
  const int q_len = view0.q_len, k_len = view0.k_len;
  const int diag = k_len - q_len;
  // Causal: the first query row that sees key0 (every later row sees it too).
  const int first_row = p.causal ? max(0, key0 - diag) : 0;
  const int n_tiles = first_row < q_len ? (q_len - first_row + BR - 1) / BR : 0;
  const int wk = warp * 16;  // the warp's first key in the block

  float dk_acc[ND][4], dv_acc[ND][4];
#pragma unroll
  for (int n = 0; n < ND; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e) dk_acc[n][e] = dv_acc[n][e] = 0.f;

  // Blocks past key_limit, or that no query row sees: zero gradients, as in the FP32 kernel.
  if (key0 < view0.k_end && n_tiles > 0) {
    const int n_it = group * n_tiles;
    const int64_t kv_row0 = static_cast<int64_t>(b * p.kv_heads + kvh) * p.k_seq + key0;
    // K, V tiles (rows past the sequence: zero fill, nothing read).
    for (int c = tid; c < kKeys * kChunks; c += kThreads) {
      const int r = c / kChunks, c8 = (c % kChunks) * 8;
      const bool ok = key0 + r < k_len;
      const int64_t off = ok ? (kv_row0 + r) * DP + c8 : 0;
      CpAsync16(SharedAddress(ks + r * kP + c8), kb + off, ok ? 16 : 0);
      CpAsync16(SharedAddress(vs + r * kP + c8), vb + off, ok ? 16 : 0);
    }
    // Iteration it: query head kvh·group + it / n_tiles, rows first_row + (it % n_tiles)·BR.
    auto issue = [&](int it, int buf) {
      const int h = kvh * group + it / n_tiles;
      const int row0 = first_row + (it % n_tiles) * BR;
      const int64_t head_row0 = static_cast<int64_t>(b * p.heads + h) * p.q_seq;
      uint16_t* qd = qs + buf * S::kQT;
      uint16_t* dd = dos + buf * S::kQT;
      for (int c = tid; c < BR * kChunks; c += kThreads) {
        const int r = c / kChunks, c8 = (c % kChunks) * 8;
        const bool ok = row0 + r < q_len;
        const int64_t off = ok ? (head_row0 + row0 + r) * DP + c8 : 0;
        CpAsync16(SharedAddress(qd + r * kP + c8), qb + off, ok ? 16 : 0);
        CpAsync16(SharedAddress(dd + r * kP + c8), dob + off, ok ? 16 : 0);
      }
      CpAsyncCommit();
      for (int r = tid; r < BR; r += kThreads) {
        const int i = row0 + r;
        const bool ok = i < q_len;
        // lse = −inf (no visible key) gives +inf: the row contributes nothing.
        nl2s[buf * BR + r] = ok ? -p.lse[head_row0 + i] * kLog2e : INFINITY;
        dls[buf * BR + r] = ok ? delta[head_row0 + i] : 0.f;
      }
    };

    // The warp's two key rows (g, g + 8): hidden when padded or past key_limit.
    bool kdead[2];
#pragma unroll
    for (int hh = 0; hh < 2; ++hh) {
      const int j = key0 + wk + g + 8 * hh;
      kdead[hh] = j >= view0.k_end || (p.key_valid && p.key_valid[static_cast<int64_t>(b) * p.k_seq + j] == 0);
    }

    const int lrow_a = (lane & 7) + 8 * ((lane >> 3) & 1), lcol_a = 8 * (lane >> 4);
    const int lrow_b = (lane & 7) + 8 * (lane >> 4), lcol_b = 8 * ((lane >> 3) & 1);
    const uint32_t k_a = SharedAddress(ks + (wk + lrow_a) * kP + lcol_a);  // Sᵀ: K rows as A
    const uint32_t v_a = SharedAddress(vs + (wk + lrow_a) * kP + lcol_a);  // dPᵀ: V rows as A
    const uint32_t qd_b = 2 * (lrow_b * kP + lcol_b);                 // Sᵀ, dPᵀ: Q, dO rows as B (bytes)
    const uint32_t qd_t = 2 * (lrow_a * kP + lcol_a);                 // dK, dV: Q, dO as B, .trans (bytes)
    const int wr = warp % RG, wc = warp / RG;                         // dQ: row group, column slice
    const uint32_t ds_a = SharedAddress(dss + lrow_b * kPS + 16 * wr + lcol_b);  // dQ: dSᵀ as A, .trans
    const uint32_t k_t = SharedAddress(ks + lrow_a * kP + wc * NC + lcol_a);     // dQ: K as B, .trans
    uint32_t* ds_row0 = reinterpret_cast<uint32_t*>(dss + (wk + g) * kPS);
    uint32_t* ds_row1 = reinterpret_cast<uint32_t*>(dss + (wk + g + 8) * kPS);
    const float sl2 = p.scale * kLog2e;
#if __CUDA_ARCH__ >= 900
    // dq rows hold (d, d + 1) pairs 8-byte aligned: depth and every q stride even, dq aligned.
    const bool dq_pairs = p.depth % 2 == 0 && p.q_ss % 2 == 0 && p.q_sh % 2 == 0 && p.q_sb % 2 == 0 &&
                          (reinterpret_cast<uintptr_t>(dq) & 7) == 0;
#endif

    issue(0, 0);  // one group with the K, V copies above
    for (int it = 0; it < n_it; ++it) {
      const int buf = it & 1;
      // Tile it has landed (this thread's copies), and after the barrier everyone's; the barrier
      // also retires every read of buffer buf ^ 1 (iteration it − 1) and of dSᵀ.
      CpAsyncWait<0>();
      __syncthreads();
      if (it + 1 < n_it) issue(it + 1, buf ^ 1);
      const int h = kvh * group + it / n_tiles;
      const int row0 = first_row + (it % n_tiles) * BR;
      const HeadView view = MakeHeadView(p, b, h);
      const uint32_t q_base = SharedAddress(qs + buf * S::kQT), do_base = SharedAddress(dos + buf * S::kQT);

      // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ on the warp's 16 keys × BR queries.
      float sacc[NT][4], pacc[NT][4];
#pragma unroll
      for (int n = 0; n < NT; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) sacc[n][e] = pacc[n][e] = 0.f;
#pragma unroll
      for (int kd = 0; kd < KD; ++kd) {
        uint32_t ka[4], va[4];
        LdMatrixX4(ka, k_a + kd * 32);
        LdMatrixX4(va, v_a + kd * 32);
#pragma unroll
        for (int n = 0; n < NT; n += 2) {
          const uint32_t off = qd_b + 2 * (n * 8 * kP + kd * 16);
          uint32_t bq[4], bo[4];
          LdMatrixX4(bq, q_base + off);
          MmaBf16(sacc[n], ka, bq[0], bq[1]);
          MmaBf16(sacc[n + 1], ka, bq[2], bq[3]);
          LdMatrixX4(bo, do_base + off);
          MmaBf16(pacc[n], va, bo[0], bo[1]);
          MmaBf16(pacc[n + 1], va, bo[2], bo[3]);
        }
      }

      // Pᵀ and dSᵀ in FP32. Element e of block n: key g + 8·(e >> 1), query 8n + 2t + (e & 1).
      const bool need_causal = p.causal && key0 + kKeys - 1 > row0 + diag;
      const float* nl2b = nl2s + buf * BR;
      const float* dlb = dls + buf * BR;
#pragma unroll
      for (int n = 0; n < NT; ++n) {
        const float2 nl = *reinterpret_cast<const float2*>(nl2b + 8 * n + 2 * t);
        const float2 dl = *reinterpret_cast<const float2*>(dlb + 8 * n + 2 * t);
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int hh = e >> 1;
          const int i = row0 + 8 * n + 2 * t + (e & 1);
          const int j = key0 + wk + g + 8 * hh;
          const float nlv = (e & 1) ? nl.y : nl.x;
          const float dlv = (e & 1) ? dl.y : dl.x;
          bool hidden = kdead[hh] || nlv == INFINITY;
          if (need_causal) hidden = hidden || j > i + diag;
          float bias = nlv;
          if (p.mask_kind != 0 && !hidden) {
            const int64_t at = MaskOffset(p, b, h, i, j);
            if (p.mask_kind == 1) {
              hidden = static_cast<const uint8_t*>(p.mask)[at] == 0;
            } else {
              const float m = static_cast<const float*>(p.mask)[at];
              hidden = m == -INFINITY;
              bias = fmaf(m, kLog2e, nlv);
            }
          }
          const float pe = hidden ? 0.f : Exp2(fmaf(sacc[n][e], sl2, bias));
          // Hidden entries get exactly 0 (not 0 · NaN when dout holds NaN).
          const float ds = pe == 0.f ? 0.f : pe * (pacc[n][e] - dlv);
          if (dmask && pe != 0.f) atomicAdd(dmask + MaskOffset(p, b, h, i, j), ds);
          sacc[n][e] = pe;
          pacc[n][e] = ds;
        }
      }

      // C fragments of query blocks 2kk, 2kk + 1 are the A fragment of query step kk:
      // a0 = (g, 2t..) of block 2kk, a1 = (g + 8, 2t..), a2, a3 the same of block 2kk + 1.
      uint32_t pa[KQ][4], da[KQ][4];
#pragma unroll
      for (int kk = 0; kk < KQ; ++kk) {
        pa[kk][0] = PackBf16(sacc[2 * kk][0], sacc[2 * kk][1]);
        pa[kk][1] = PackBf16(sacc[2 * kk][2], sacc[2 * kk][3]);
        pa[kk][2] = PackBf16(sacc[2 * kk + 1][0], sacc[2 * kk + 1][1]);
        pa[kk][3] = PackBf16(sacc[2 * kk + 1][2], sacc[2 * kk + 1][3]);
        da[kk][0] = PackBf16(pacc[2 * kk][0], pacc[2 * kk][1]);
        da[kk][1] = PackBf16(pacc[2 * kk][2], pacc[2 * kk][3]);
        da[kk][2] = PackBf16(pacc[2 * kk + 1][0], pacc[2 * kk + 1][1]);
        da[kk][3] = PackBf16(pacc[2 * kk + 1][2], pacc[2 * kk + 1][3]);
        // dSᵀ rows wk + g, wk + g + 8; queries 16kk + 2t (word 8kk + t) and 16kk + 8 + 2t (word 8kk + 4 + t).
        ds_row0[8 * kk + t] = da[kk][0];
        ds_row1[8 * kk + t] = da[kk][1];
        ds_row0[8 * kk + 4 + t] = da[kk][2];
        ds_row1[8 * kk + 4 + t] = da[kk][3];
      }

      // dV += Pᵀ·dO and dK += dSᵀ·Q on the warp's 16 keys × DP.
#pragma unroll
      for (int kk = 0; kk < KQ; ++kk) {
#pragma unroll
        for (int nd = 0; nd < ND; nd += 2) {
          const uint32_t off = qd_t + 2 * (16 * kk * kP + 8 * nd);
          uint32_t bo[4], bq[4];
          LdMatrixX4Trans(bo, do_base + off);
          MmaBf16(dv_acc[nd], pa[kk], bo[0], bo[1]);
          MmaBf16(dv_acc[nd + 1], pa[kk], bo[2], bo[3]);
          LdMatrixX4Trans(bq, q_base + off);
          MmaBf16(dk_acc[nd], da[kk], bq[0], bq[1]);
          MmaBf16(dk_acc[nd + 1], da[kk], bq[2], bq[3]);
        }
      }

      __syncthreads();  // dSᵀ of all 64 keys is in shared memory

      // dQ (BR × DP) = dS·K: warp (wr, wc) takes rows 16wr.. and depth columns wc·NC...
      float qacc[NC / 8][4];
#pragma unroll
      for (int n = 0; n < NC / 8; ++n)
#pragma unroll
        for (int e = 0; e < 4; ++e) qacc[n][e] = 0.f;
#pragma unroll 2  // fully unrolled, the 128-key loop spills at DP = 128 on sm_80
      for (int kk = 0; kk < kKeys / 16; ++kk) {
        uint32_t a[4];
        LdMatrixX4Trans(a, ds_a + 2 * (16 * kk * kPS));
#pragma unroll
        for (int n = 0; n < NC / 8; n += 2) {
          uint32_t bk[4];
          LdMatrixX4Trans(bk, k_t + 2 * (16 * kk * kP + 8 * n));
          MmaBf16(qacc[n], a, bk[0], bk[1]);
          MmaBf16(qacc[n + 1], a, bk[2], bk[3]);
        }
      }
#pragma unroll
      for (int n = 0; n < NC / 8; ++n)
#pragma unroll
        for (int hh = 0; hh < 2; ++hh) {
          const int i = row0 + 16 * wr + g + 8 * hh;
          const int d = wc * NC + 8 * n + 2 * t;  // even; elements d, d + 1
          if (i >= q_len || d >= p.depth) continue;
          float* at = dq + view.q_base + i * p.q_ss + d;
          const float v0 = qacc[n][2 * hh] * p.scale, v1 = qacc[n][2 * hh + 1] * p.scale;
#if __CUDA_ARCH__ >= 900
          if (dq_pairs) {  // d + 1 < depth (depth even), 8-byte aligned: one vector reduction
            if (v0 != 0.f || v1 != 0.f) atomicAdd(reinterpret_cast<float2*>(at), make_float2(v0, v1));
            continue;
          }
#endif
          if (v0 != 0.f) atomicAdd(at, v0);
          if (v1 != 0.f && d + 1 < p.depth) atomicAdd(at + 1, v1);
        }
    }
  }

  // dK, dV of the warp's keys g, g + 8: C element e of depth block n is (g + 8·(e >> 1), 8n + 2t + (e & 1)).
#pragma unroll
  for (int hh = 0; hh < 2; ++hh) {
    const int j = key0 + wk + g + 8 * hh;
    if (j >= k_len) continue;
    float* dkrow = dk + view0.k_base + j * p.k_ss;
    float* dvrow = dv + view0.v_base + j * p.v_ss;
#pragma unroll
    for (int n = 0; n < ND; ++n)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int d = 8 * n + 2 * t + e;
        if (d < p.depth) dkrow[d] = dk_acc[n][2 * hh + e] * p.scale;
        if (d < p.value_depth) dvrow[d] = dv_acc[n][2 * hh + e];
      }
  }
}

template <int DP, int BR, int W>
cudaError_t LaunchMain(const AttentionParams& p, const float* delta, const uint16_t* qb, const uint16_t* dob,
                       const uint16_t* kb, const uint16_t* vb, float* dq, float* dk, float* dv, float* dmask,
                       cudaStream_t stream) {
  const size_t bytes = Bf16BwdSmem<DP, BR, 16 * W>::kBytes;
  cudaError_t err = cudaFuncSetAttribute(AttentionBackwardBf16Kernel<DP, BR, W>,
                                         cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes));
  if (err != cudaSuccess) return err;
  // Key block 0 (the most query tiles under a causal mask) in the first wave.
  const dim3 grid(p.batch * p.kv_heads, (p.k_seq + 16 * W - 1) / (16 * W));
  AttentionBackwardBf16Kernel<DP, BR, W><<<grid, W * 32, bytes, stream>>>(p, delta, qb, dob, kb, vb, dq, dk, dv, dmask);
  return cudaGetLastError();
}

template <int DP>
cudaError_t LaunchConvert(const AttentionParams& p, const float* dout, float* delta, const ScratchLayout& l,
                          unsigned char* base, cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * p.q_seq +
                       static_cast<int64_t>(p.batch) * p.kv_heads * p.k_seq;
  if (rows == 0) return cudaSuccess;
  ConvertKernel<DP><<<static_cast<unsigned>((rows + 7) / 8), 256, 0, stream>>>(
      p, dout, delta, reinterpret_cast<uint32_t*>(base + l.q), reinterpret_cast<uint32_t*>(base + l.dout),
      reinterpret_cast<uint32_t*>(base + l.k), reinterpret_cast<uint32_t*>(base + l.v));
  return cudaGetLastError();
}

}  // namespace

size_t AttentionBackwardBf16ScratchBytes(const AttentionParams& p) { return Layout(p).total; }

cudaError_t LaunchAttentionBackwardBf16(const AttentionParams& p, const float* dout, float* delta, float* dq,
                                        float* dk, float* dv, float* dmask, void* scratch, cudaStream_t stream) {
  if (p.seq_offsets || p.k_lens) return cudaErrorInvalidValue;
  if (static_cast<int64_t>(p.batch) * p.kv_heads * p.k_seq == 0) return cudaSuccess;
  const ScratchLayout l = Layout(p);
  unsigned char* base = static_cast<unsigned char*>(scratch);
  const auto* qb = reinterpret_cast<const uint16_t*>(base + l.q);
  const auto* dob = reinterpret_cast<const uint16_t*>(base + l.dout);
  const auto* kb = reinterpret_cast<const uint16_t*>(base + l.k);
  const auto* vb = reinterpret_cast<const uint16_t*>(base + l.v);
  cudaError_t err;
  // Query tile BR: 64 rows up to DP = 64; 32 at DP = 128, where dK and dV alone hold 128
  // accumulators per thread and Sᵀ, dPᵀ of 64 rows would not fit beside them without spills.
  // Shared memory (8 warps): DP 32: 60416 B, DP 64: 93184 B, DP 128: 115200 B; one block per SM.
  switch (PaddedDepth(p.depth, p.value_depth)) {
    case 32:
      err = LaunchConvert<32>(p, dout, delta, l, base, stream);
      return err != cudaSuccess ? err : LaunchMain<32, 64, kBlockWarps>(p, delta, qb, dob, kb, vb, dq, dk, dv, dmask, stream);
    case 64:
      err = LaunchConvert<64>(p, dout, delta, l, base, stream);
      return err != cudaSuccess ? err : LaunchMain<64, 64, kBlockWarps>(p, delta, qb, dob, kb, vb, dq, dk, dv, dmask, stream);
    default:
      err = LaunchConvert<128>(p, dout, delta, l, base, stream);
      return err != cudaSuccess ? err : LaunchMain<128, 32, kBlockWarps>(p, delta, qb, dob, kb, vb, dq, dk, dv, dmask, stream);
  }
}

}  // namespace btc
