// Attention of a few new queries per sequence over its long key/value cache
// (a decoding step), FP32. Memory-bound: the cache is read once, so the kernel
// is organised around reading each cached row once per group of query heads.
//
// A block (4 warps) takes one sequence b, one kv head g and up to 16 query rows
// of that head's group (query heads g·group .. g·group + group - 1, times the
// step's new tokens): with GQA every row of the group reuses each key/value
// tile the block stages in shared memory. Key tiles of 32 rows: lane j scores
// key j against the warp's query row (the query row broadcast from shared
// memory, keys padded to DP + 1 floats so lanes read distinct banks), an online
// softmax per row (running max and sum), then P·V with the probabilities
// broadcast by shuffles and each lane owning DP/32 output columns.
//
// Flash decoding: when (sequences × kv heads × row blocks) is too small to fill
// the GPU, the keys are split over `splits` blocks (grid.y); each writes its
// partial (max, sum, unnormalised output) and a combine pass merges them with
// the log-sum-exp rule. A split may see no visible key (max -inf, sum 0).
//
// The same kernel serves an encoder-decoder's cross-attention (no causal rule,
// padded source keys hidden: a whole tile of them leaves a row's state as it
// was) and T5's per-distance bias on the self-attention scores, added to the
// scaled score of every visible key.
#include <cmath>

#include "decoder_kernels.h"

namespace btc {
namespace {

constexpr int kRows = kDecodeBlockRows;  // query rows per block
constexpr int kKeys = 32;                // keys per tile (one per lane)
constexpr int kWarps = 4;
constexpr int kRowsPerWarp = kRows / kWarps;

__device__ inline float WarpMax(float v) {
  for (int off = 16; off > 0; off >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, off));
  return v;
}

__device__ inline float WarpSum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

__device__ inline int64_t QueryBase(const DecodeParams& p, int b) {
  return p.q_row0 ? static_cast<int64_t>(p.q_row0[b]) * p.q_ss : b * p.q_sb;
}

__device__ inline int64_t OutBase(const DecodeParams& p, int b) {
  return p.q_row0 ? static_cast<int64_t>(p.q_row0[b]) * p.o_ss : b * p.o_sb;
}

// Row r of a block's group enumeration: query head g·group + r / q_len, new token r % q_len.
template <int DP>
__global__ void __launch_bounds__(kWarps * 32) DecodeAttentionKernel(DecodeParams p) {
  __shared__ float qs[kRows][DP];
  __shared__ float ks[kKeys][DP + 1];
  __shared__ float vs[kKeys][DP];

  const int chunks = static_cast<int>(gridDim.x / (static_cast<unsigned>(p.batch) * p.kv_heads));
  int bx = static_cast<int>(blockIdx.x);
  const int chunk = bx % chunks;
  bx /= chunks;
  const int g = bx % p.kv_heads, b = bx / p.kv_heads;
  const int group = p.heads / p.kv_heads;
  const int q_len = p.q_lens[b], k_len = p.k_lens[b];
  const int rows = group * q_len;
  const int r0 = chunk * kRows;
  if (r0 >= rows) return;  // (the combine pass never reads these partials either)
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int split = blockIdx.y;
  const int span = ((k_len + p.splits - 1) / p.splits + kKeys - 1) / kKeys * kKeys;
  const int key_begin = split * span;
  // The block's rows see keys below k_len - q_len + i + 1; the last token of the block sees most.
  int last_i = 0;
  for (int r = r0; r < min(rows, r0 + kRows); ++r) last_i = max(last_i, r % q_len);
  const int key_end = p.non_causal ? min(k_len, key_begin + span)
                                   : min(min(k_len, key_begin + span), k_len - q_len + last_i + 1);
  const uint8_t* key_valid = p.key_valid ? p.key_valid + b * p.key_valid_ld : nullptr;

  const int64_t q_base = QueryBase(p, b), o_base = OutBase(p, b);
  for (int e = tid; e < kRows * DP; e += blockDim.x) {
    const int rr = e / DP, d = e % DP, r = r0 + rr;
    float value = 0.f;
    if (r < rows && d < p.head_dim) {
      const int h = g * group + r / q_len, i = r % q_len;
      value = p.q[q_base + h * p.q_sh + i * p.q_ss + d];
    }
    qs[rr][d] = value;
  }

  constexpr int kCols = DP / 32;
  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kCols];
  int limit[kRowsPerWarp];  // keys [0, limit) are visible to the row
#pragma unroll
  for (int t = 0; t < kRowsPerWarp; ++t) {
    const int r = r0 + warp + kWarps * t;
    limit[t] = r < rows ? (p.non_causal ? k_len : k_len - q_len + r % q_len + 1) : 0;
    m[t] = -INFINITY;
    l[t] = 0.f;
#pragma unroll
    for (int c = 0; c < kCols; ++c) acc[t][c] = 0.f;
  }

  const int64_t k_base = b * p.k_sb + g * p.k_sh, v_base = b * p.v_sb + g * p.v_sh;
  for (int key0 = key_begin; key0 < key_end; key0 += kKeys) {
    __syncthreads();  // the previous tile is consumed (and the queries are stored, on the first pass)
    for (int e = tid; e < kKeys * DP; e += blockDim.x) {
      const int j = e / DP, d = e % DP, key = key0 + j;
      // Padding keys are never read: their rows stay zero, so NaN there cannot reach a result.
      const bool in = key < key_end && (!key_valid || key_valid[key] != 0);
      ks[j][d] = in && d < p.head_dim ? p.k[k_base + key * p.k_ss + d] : 0.f;
      vs[j][d] = in && d < p.value_dim ? p.v[v_base + key * p.v_ss + d] : 0.f;
    }
    __syncthreads();
    const int key = key0 + lane;
    const bool real = key < key_end && (!key_valid || key_valid[key] != 0);
#pragma unroll
    for (int t = 0; t < kRowsPerWarp; ++t) {
      const int rr = warp + kWarps * t;
      if (r0 + rr >= rows || key0 >= limit[t]) continue;  // warp-uniform
      float s = 0.f;
#pragma unroll 8
      for (int d = 0; d < DP; ++d) s = fmaf(qs[rr][d], ks[lane][d], s);
      const bool visible = real && key < limit[t];
      s = visible ? s * p.scale : -INFINITY;
      if (p.position_bias && visible) {
        // The row's query sits at position limit - 1 (causal): the key's distance is limit - 1 - key.
        const int h = g * group + (r0 + rr) / q_len;
        s += p.position_bias[h * p.bias_rows + (limit[t] - 1 - key)];
      }
      const float m_new = fmaxf(m[t], WarpMax(s));
      // A tile of padding keys only (cross-attention) leaves m = -inf: keep the row's state.
      const float m_ref = m_new == -INFINITY ? 0.f : m_new;
      const float alpha = expf(m[t] - m_ref);  // m = -inf the first time: 0
      const float pj = expf(s - m_ref);
      l[t] = l[t] * alpha + WarpSum(pj);
      m[t] = m_new;
#pragma unroll
      for (int c = 0; c < kCols; ++c) acc[t][c] *= alpha;
#pragma unroll 4
      for (int j = 0; j < kKeys; ++j) {
        const float pv = __shfl_sync(0xffffffffu, pj, j);
#pragma unroll
        for (int c = 0; c < kCols; ++c) acc[t][c] = fmaf(pv, vs[j][lane + 32 * c], acc[t][c]);
      }
    }
  }

  const int64_t total_rows = static_cast<int64_t>(p.batch) * p.heads * p.max_q;
#pragma unroll
  for (int t = 0; t < kRowsPerWarp; ++t) {
    const int r = r0 + warp + kWarps * t;
    if (r >= rows) continue;
    const int h = g * group + r / q_len, i = r % q_len;
    if (p.splits == 1) {
      const float inv = l[t] > 0.f ? 1.f / l[t] : 0.f;  // (NaN scores keep l NaN: NaN propagates)
      float* o = p.out + o_base + h * p.o_sh + i * p.o_ss;
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int d = lane + 32 * c;
        if (d < p.value_dim) o[d] = (l[t] == 0.f) ? 0.f : acc[t][c] * inv;
      }
    } else {
      const int64_t row = (static_cast<int64_t>(b) * p.heads + h) * p.max_q + i;
      float* part = p.partial + (static_cast<int64_t>(split) * total_rows + row) * (p.value_dim + 2);
      if (lane == 0) {
        part[0] = m[t];
        part[1] = l[t];
      }
#pragma unroll
      for (int c = 0; c < kCols; ++c) {
        const int d = lane + 32 * c;
        if (d < p.value_dim) part[2 + d] = acc[t][c];
      }
    }
  }
}

// One warp per query row (b, h, i < q_len[b]): out = Σ_s acc_s e^(m_s - M) / Σ_s l_s e^(m_s - M).
__global__ void DecodeCombineKernel(DecodeParams p) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int64_t total_rows = static_cast<int64_t>(p.batch) * p.heads * p.max_q;
  if (row >= total_rows) return;
  const int lane = threadIdx.x % 32;
  const int i = static_cast<int>(row % p.max_q);
  const int h = static_cast<int>((row / p.max_q) % p.heads);
  const int b = static_cast<int>(row / p.max_q / p.heads);
  if (i >= p.q_lens[b]) return;
  const int64_t stride = p.value_dim + 2;
  float big = -INFINITY;
  for (int s = 0; s < p.splits; ++s) big = fmaxf(big, p.partial[(s * total_rows + row) * stride]);
  const float ref = big == -INFINITY ? 0.f : big;
  float sum = 0.f;
  for (int s = 0; s < p.splits; ++s) {
    const float* part = p.partial + (s * total_rows + row) * stride;
    sum += part[1] * expf(part[0] - ref);
  }
  float* o = p.out + OutBase(p, b) + h * p.o_sh + i * p.o_ss;
  for (int d = lane; d < p.value_dim; d += 32) {
    float v = 0.f;
    for (int s = 0; s < p.splits; ++s) {
      const float* part = p.partial + (s * total_rows + row) * stride;
      v = fmaf(part[2 + d], expf(part[0] - ref), v);
    }
    o[d] = sum == 0.f ? 0.f : v / sum;
  }
}

template <int DP>
cudaError_t Launch(const DecodeParams& p, cudaStream_t stream) {
  const int64_t chunks = DecodeRowChunks(p.heads, p.kv_heads, p.max_q);
  const dim3 grid(static_cast<unsigned>(static_cast<int64_t>(p.batch) * p.kv_heads * chunks),
                  static_cast<unsigned>(p.splits));
  DecodeAttentionKernel<DP><<<grid, kWarps * 32, 0, stream>>>(p);
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || p.splits == 1) return err;
  const int64_t rows = static_cast<int64_t>(p.batch) * p.heads * p.max_q;
  constexpr int kRowsPerBlock = 4;
  DecodeCombineKernel<<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock, 0,
                        stream>>>(p);
  return cudaGetLastError();
}

}  // namespace

int64_t DecodeRowChunks(int64_t heads, int64_t kv_heads, int64_t max_q) {
  return ((heads / kv_heads) * max_q + kRows - 1) / kRows;
}

int DecodeSplits(int64_t batch, int64_t heads, int64_t kv_heads, int64_t max_q, int64_t max_k) {
  const int64_t blocks = batch * kv_heads * DecodeRowChunks(heads, kv_heads, max_q);
  if (blocks <= 0 || blocks >= 128) return 1;
  int64_t splits = (256 + blocks - 1) / blocks;
  const int64_t by_keys = (max_k + 255) / 256;
  if (splits > by_keys) splits = by_keys;
  if (splits > 64) splits = 64;
  return splits < 1 ? 1 : static_cast<int>(splits);
}

size_t DecodePartialFloats(int64_t batch, int64_t heads, int64_t max_q, int64_t value_dim, int splits) {
  if (splits <= 1) return 0;
  return static_cast<size_t>(splits) * static_cast<size_t>(batch * heads * max_q) * static_cast<size_t>(value_dim + 2);
}

cudaError_t LaunchDecodeAttention(const DecodeParams& p, cudaStream_t stream) {
  if (p.batch == 0 || p.heads == 0 || p.max_q == 0) return cudaSuccess;
  const int d = p.head_dim > p.value_dim ? p.head_dim : p.value_dim;
  if (d <= 32) return Launch<32>(p, stream);
  if (d <= 64) return Launch<64>(p, stream);
  return Launch<128>(p, stream);
}

}  // namespace btc
