// The decoding ops' row and elementwise kernels: LayerNorm / RMSNorm with
// optional affine terms, rotary embeddings (the op's [B, H, S, D] layout and the
// decoder's packed QKV rows, where the new keys and values then go straight
// into the layer's cache), the op's cache append, embeddings, the split of the
// encoder states' key/value products into the cross caches, the position bias
// table of the prompt attention, and activations.
// All are bound by memory traffic: one warp or block per row, coalesced along
// the features.
#include <cmath>

#include "bt_cuda.h"
#include "decoder_kernels.h"

namespace btc {
namespace {

__device__ inline float WarpSum(float v) {
  for (int off = 16; off > 0; off >>= 1) v += __shfl_xor_sync(0xffffffffu, v, off);
  return v;
}

// One warp per row; a row is read twice (statistics), then normalised.
__global__ void NormRowsKernel(int kind, const float* x, const float* gamma, const float* beta, float eps, float* y,
                               int64_t rows, int width) {
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int lane = threadIdx.x % 32;
  const float* xr = x + row * width;
  float mean = 0.f;
  if (kind == 0) {
    float s = 0.f;
    for (int c = lane; c < width; c += 32) s += xr[c];
    mean = WarpSum(s) / width;
  }
  float v = 0.f;
  for (int c = lane; c < width; c += 32) {
    const float d = xr[c] - mean;
    v = fmaf(d, d, v);
  }
  const float inv = rsqrtf(WarpSum(v) / width + eps);
  float* yr = y + row * width;
  for (int c = lane; c < width; c += 32) {
    float out = (xr[c] - mean) * inv;
    if (gamma) out *= gamma[c];
    if (beta && kind == 0) out += beta[c];
    yr[c] = out;
  }
}

// Rotates the first rotary_dim features of one head in place (pairs of `half`), lanes over pairs.
__device__ inline void RotateHead(float* head, const float* cos_row, const float* sin_row, int half, bool interleaved,
                                  int lane, int lanes) {
  for (int i = lane; i < half; i += lanes) {
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float a = head[ia], b = head[ib], c = cos_row[i], s = sin_row[i];
    head[ia] = a * c - b * s;
    head[ib] = b * c + a * s;
  }
}

// One block per (b, h, s) row of [B, H, S, D]: copy, then rotate (y may be x: each element is
// read and written by the same thread, pairs by one thread).
__global__ void RotaryKernel(const float* x, const int* positions, const float* cos, const float* sin, float* y,
                             int heads, int seq, int head_dim, int rotary_dim, bool interleaved) {
  const int64_t row = blockIdx.x;  // (b * H + h) * S + s
  const int s = static_cast<int>(row % seq);
  const int64_t b = row / seq / heads;
  const float* xr = x + row * head_dim;
  float* yr = y + row * head_dim;
  const int half = rotary_dim / 2;
  const int64_t position = positions[b * seq + s];
  const float* cos_row = cos + position * half;
  const float* sin_row = sin + position * half;
  for (int i = threadIdx.x; i < half; i += blockDim.x) {
    const int ia = interleaved ? 2 * i : i, ib = interleaved ? 2 * i + 1 : i + half;
    const float a = xr[ia], bb = xr[ib], c = cos_row[i], sn = sin_row[i];
    yr[ia] = a * c - bb * sn;
    yr[ib] = bb * c + a * sn;
  }
  for (int d = rotary_dim + threadIdx.x; d < head_dim; d += blockDim.x) yr[d] = xr[d];
}

// One block per (b, g, i) new row; rows past fresh[b] are padding and stay out of the cache.
__global__ void KvAppendKernel(const float* k, const float* v, float* key_cache, float* value_cache, const int* past,
                               const int* fresh, int kv_heads, int new_len, int64_t capacity, int head_dim,
                               int value_dim) {
  const int64_t row = blockIdx.x;  // (b * Hkv + g) * N + i
  const int i = static_cast<int>(row % new_len);
  const int64_t bg = row / new_len;
  const int b = static_cast<int>(bg / kv_heads);
  if (i >= fresh[b]) return;
  const int64_t slot = bg * capacity + past[b] + i;
  for (int d = threadIdx.x; d < head_dim; d += blockDim.x) key_cache[slot * head_dim + d] = k[row * head_dim + d];
  for (int d = threadIdx.x; d < value_dim; d += blockDim.x) value_cache[slot * value_dim + d] = v[row * value_dim + d];
}

__global__ void EmbedRowsKernel(const int* ids, const int* positions, const float* word, const float* pos_emb,
                                int64_t pos_offset, float scale, float* x, int width) {
  const int64_t r = blockIdx.x;
  const float* w = word + static_cast<int64_t>(ids[r]) * width;
  const float* p = pos_emb ? pos_emb + (static_cast<int64_t>(positions[r]) + pos_offset) * width : nullptr;
  float* xr = x + r * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) xr[c] = w[c] * scale + (p ? p[c] : 0.f);
}

__global__ void AddPositionRowsKernel(const int* positions, const float* pos_emb, int64_t pos_offset, float* x,
                                      int width) {
  const int64_t r = blockIdx.x;
  const float* p = pos_emb + (static_cast<int64_t>(positions[r]) + pos_offset) * width;
  float* xr = x + r * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) xr[c] += p[c];
}

// One block per source row (b, s) of rows [B * S, Hkv D]: its heads to (b, g, s) of the cache.
__global__ void SplitCrossHeadsKernel(const float* rows, int64_t ld, float* cache, int kv_heads, int64_t source_len,
                                      int head_dim) {
  const int64_t row = blockIdx.x;  // b * S + s
  const int64_t b = row / source_len, s = row % source_len;
  const int width = kv_heads * head_dim;
  const float* src = rows + row * ld;
  for (int e = threadIdx.x; e < width; e += blockDim.x) {
    const int g = e / head_dim, d = e % head_dim;
    cache[((b * kv_heads + g) * source_len + s) * head_dim + d] = src[e];
  }
}

// Grid-stride over table [B, H, L]: element (b, h, u) = bias[h, u - capacity + past_b] or 0.
__global__ void PositionBiasTableKernel(const float* bias, int64_t bias_rows, const int* q_lens, const int* k_lens,
                                        float* table, int heads, int64_t capacity, int64_t width, int64_t total) {
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t u = e % width, bh = e / width;
    const int h = static_cast<int>(bh % heads), b = static_cast<int>(bh / heads);
    const int64_t distance = u - capacity + (k_lens[b] - q_lens[b]);
    table[e] = distance >= 0 && distance < bias_rows ? bias[h * bias_rows + distance] : 0.f;
  }
}

// One block per packed row: rotate its q and k heads (one warp per head), then copy its k and v
// heads into the cache.
__global__ void RotaryAppendKernel(float* qkv, int heads, int kv_heads, int head_dim, int rotary_dim, bool interleaved,
                                   const float* cos, const float* sin, const int* positions, const int* sequences,
                                   float* key_cache, float* value_cache, int64_t capacity) {
  const int64_t r = blockIdx.x;
  const int width = (heads + 2 * kv_heads) * head_dim;
  float* row = qkv + r * width;
  const int64_t position = positions[r];
  const int64_t b = sequences[r];
  if (rotary_dim > 0) {
    const int half = rotary_dim / 2;
    const float* cos_row = cos + position * half;
    const float* sin_row = sin + position * half;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, warps = blockDim.x / 32;
    for (int h = warp; h < heads + kv_heads; h += warps) {
      RotateHead(row + h * head_dim, cos_row, sin_row, half, interleaved, lane, 32);
    }
    __syncthreads();
  }
  const float* keys = row + heads * head_dim;
  const float* values = keys + kv_heads * head_dim;
  for (int e = threadIdx.x; e < kv_heads * head_dim; e += blockDim.x) {
    const int g = e / head_dim, d = e % head_dim;
    const int64_t slot = ((b * kv_heads + g) * capacity + position) * head_dim + d;
    key_cache[slot] = keys[e];
    value_cache[slot] = values[e];
  }
}

__device__ inline float Activate(float x, int activation) {
  switch (activation) {
    case BT_CUDA_RELU: return fmaxf(x, 0.f);
    case BT_CUDA_GELU_TANH: {
      const float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
      return 0.5f * x * (1.f + tanhf(inner));
    }
    case BT_CUDA_SILU: return x / (1.f + expf(-x));
    default: return 0.5f * x * (1.f + erff(x * 0.70710678118654752f));
  }
}

__global__ void ActivationKernel(float* x, int64_t n, int activation) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    x[i] = Activate(x[i], activation);
  }
}

__global__ void GatedActivationKernel(float* gate, const float* up, int64_t n, int activation) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    gate[i] = Activate(gate[i], activation) * up[i];
  }
}

unsigned GridFor(int64_t n) {
  const int64_t blocks = (n + 255) / 256;
  return static_cast<unsigned>(blocks < 65536 ? blocks : 65536);
}

}  // namespace

cudaError_t LaunchNormRows(int kind, const float* x, const float* gamma, const float* beta, float eps, float* y,
                           int64_t rows, int width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return cudaSuccess;
  constexpr int kRowsPerBlock = 8;
  NormRowsKernel<<<static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock), 32 * kRowsPerBlock, 0,
                   stream>>>(kind, x, gamma, beta, eps, y, rows, width);
  return cudaGetLastError();
}

cudaError_t LaunchRotary(const float* x, const int* positions, const float* cos, const float* sin, float* y,
                         int batch, int heads, int seq, int head_dim, int rotary_dim, bool interleaved,
                         cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(batch) * heads * seq;
  if (rows == 0 || head_dim == 0) return cudaSuccess;
  RotaryKernel<<<static_cast<unsigned>(rows), 64, 0, stream>>>(x, positions, cos, sin, y, heads, seq, head_dim,
                                                               rotary_dim, interleaved);
  return cudaGetLastError();
}

cudaError_t LaunchKvAppend(const float* k, const float* v, float* key_cache, float* value_cache, const int* past,
                           const int* fresh, int batch, int kv_heads, int new_len, int64_t capacity, int head_dim,
                           int value_dim, cudaStream_t stream) {
  const int64_t rows = static_cast<int64_t>(batch) * kv_heads * new_len;
  if (rows == 0) return cudaSuccess;
  KvAppendKernel<<<static_cast<unsigned>(rows), 128, 0, stream>>>(k, v, key_cache, value_cache, past, fresh, kv_heads,
                                                                   new_len, capacity, head_dim, value_dim);
  return cudaGetLastError();
}

cudaError_t LaunchEmbedRows(const int* ids, const int* positions, const float* word, const float* pos_emb,
                            int64_t pos_offset, float scale, float* x, int64_t rows, int width, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  EmbedRowsKernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(ids, positions, word, pos_emb, pos_offset, scale,
                                                                   x, width);
  return cudaGetLastError();
}

cudaError_t LaunchAddPositionRows(const int* positions, const float* pos_emb, int64_t pos_offset, float* x,
                                  int64_t rows, int width, cudaStream_t stream) {
  if (rows == 0 || width == 0) return cudaSuccess;
  AddPositionRowsKernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(positions, pos_emb, pos_offset, x, width);
  return cudaGetLastError();
}

cudaError_t LaunchSplitCrossHeads(const float* rows, int64_t ld, float* cache, int batch, int kv_heads,
                                  int64_t source_len, int head_dim, cudaStream_t stream) {
  const int64_t n = static_cast<int64_t>(batch) * source_len;
  if (n == 0 || kv_heads == 0 || head_dim == 0) return cudaSuccess;
  SplitCrossHeadsKernel<<<static_cast<unsigned>(n), 256, 0, stream>>>(rows, ld, cache, kv_heads, source_len,
                                                                       head_dim);
  return cudaGetLastError();
}

cudaError_t LaunchPositionBiasTable(const float* position_bias, int64_t bias_rows, const int* q_lens,
                                    const int* k_lens, float* table, int batch, int heads, int64_t capacity,
                                    int max_q, cudaStream_t stream) {
  const int64_t width = capacity + max_q, total = static_cast<int64_t>(batch) * heads * width;
  if (total == 0) return cudaSuccess;
  PositionBiasTableKernel<<<GridFor(total), 256, 0, stream>>>(position_bias, bias_rows, q_lens, k_lens, table, heads,
                                                               capacity, width, total);
  return cudaGetLastError();
}

cudaError_t LaunchRotaryAppend(float* qkv, int64_t rows, int heads, int kv_heads, int head_dim, int rotary_dim,
                               bool interleaved, const float* cos, const float* sin, const int* positions,
                               const int* sequences, float* key_cache, float* value_cache, int64_t capacity,
                               cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  RotaryAppendKernel<<<static_cast<unsigned>(rows), 256, 0, stream>>>(qkv, heads, kv_heads, head_dim, rotary_dim,
                                                                      interleaved, cos, sin, positions, sequences,
                                                                      key_cache, value_cache, capacity);
  return cudaGetLastError();
}

cudaError_t LaunchActivation(float* x, int64_t n, int activation, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  ActivationKernel<<<GridFor(n), 256, 0, stream>>>(x, n, activation);
  return cudaGetLastError();
}

cudaError_t LaunchGatedActivation(float* gate, const float* up, int64_t n, int activation, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  GatedActivationKernel<<<GridFor(n), 256, 0, stream>>>(gate, up, n, activation);
  return cudaGetLastError();
}

}  // namespace btc
