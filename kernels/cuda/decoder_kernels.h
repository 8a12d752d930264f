// Launchers of the decoding kernels: row norms (LayerNorm / RMSNorm with
// optional affine terms), rotary embeddings, the in-place key/value cache
// append, embeddings, the cross caches' head split, the position bias table,
// activations, and attention of a few queries per sequence over a long cache
// (decode_attention.cu). The composition of a decoder step is
// decoder_stack.cu; the C ABI's checks come first (bt_cuda_api.cu), so the
// launchers trust their sizes, tables and positions.
#ifndef TFJS_BT_CUDA_DECODER_KERNELS_H_
#define TFJS_BT_CUDA_DECODER_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include <cuda_runtime.h>

namespace btc {

// y = norm(x) per row of `width`: LayerNorm (kind 0: (x - mean) / sqrt(var + eps) * gamma + beta)
// or RMSNorm (kind 1: x / sqrt(mean(x²) + eps) * gamma). gamma null = 1, beta null = 0; y may be x.
cudaError_t LaunchNormRows(int kind, const float* x, const float* gamma, const float* beta, float eps, float* y,
                           int64_t rows, int width, cudaStream_t stream);

// The op RotaryEmbedding: y [B, H, S, D] = x rotated at positions [B, S] (device, checked); y may be x.
cudaError_t LaunchRotary(const float* x, const int* positions, const float* cos, const float* sin, float* y,
                         int batch, int heads, int seq, int head_dim, int rotary_dim, bool interleaved,
                         cudaStream_t stream);

// The op AttentionWithKVCache's append: rows i < fresh[b] of k [B, Hkv, N, D] and v [B, Hkv, N, Dv]
// into the caches [B, Hkv, C, D|Dv] at row past[b] + i.
cudaError_t LaunchKvAppend(const float* k, const float* v, float* key_cache, float* value_cache, const int* past,
                           const int* fresh, int batch, int kv_heads, int new_len, int64_t capacity, int head_dim,
                           int value_dim, cudaStream_t stream);

// Decoder embeddings: x[r] = word[ids[r]] * scale (+ pos_emb[positions[r] + offset] when pos_emb is set).
cudaError_t LaunchEmbedRows(const int* ids, const int* positions, const float* word, const float* pos_emb,
                            int64_t pos_offset, float scale, float* x, int64_t rows, int width, cudaStream_t stream);

// The decoder's packed QKV rows [rows, (H + 2 Hkv) D]: rotary on the q and k heads (rotary_dim 0:
// none) at positions[r], then the row's k and v heads into one layer's caches [B, Hkv, C, D] at
// (sequences[r], head, positions[r]).
cudaError_t LaunchRotaryAppend(float* qkv, int64_t rows, int heads, int kv_heads, int head_dim, int rotary_dim,
                               bool interleaved, const float* cos, const float* sin, const int* positions,
                               const int* sequences, float* key_cache, float* value_cache, int64_t capacity,
                               cudaStream_t stream);

// x[r] += pos_emb[positions[r] + offset] (BlenderbotSmall: positions added after the embedding norm).
cudaError_t LaunchAddPositionRows(const int* positions, const float* pos_emb, int64_t pos_offset, float* x,
                                  int64_t rows, int width, cudaStream_t stream);

// One cross cache of a layer from the product of the encoder states: rows [B * S, Hkv D] (row
// stride ld, head by head) into cache [B, Hkv, S, D].
cudaError_t LaunchSplitCrossHeads(const float* rows, int64_t ld, float* cache, int batch, int kv_heads,
                                  int64_t source_len, int head_dim, cudaStream_t stream);

// The position bias of the tiled (prompt) attention as an additive mask read through strides
// (B · H · L, L, 1, -1) from table + capacity, L = capacity + max_q: table[b, h, u] =
// position_bias[h, u - capacity + past_b] where that distance is in [0, bias_rows), else 0,
// with past_b = k_lens[b] - q_lens[b]. Query i, key j of sequence b then read
// table[b, h, capacity + i - j] = bias[h, past_b + i - j], the bias of their distance.
cudaError_t LaunchPositionBiasTable(const float* position_bias, int64_t bias_rows, const int* q_lens,
                                    const int* k_lens, float* table, int batch, int heads, int64_t capacity,
                                    int max_q, cudaStream_t stream);

// x = act(x) in place (activation: enum bt_cuda_activation).
cudaError_t LaunchActivation(float* x, int64_t n, int activation, cudaStream_t stream);
// gate = act(gate) * up (SwiGLU and kin).
cudaError_t LaunchGatedActivation(float* gate, const float* up, int64_t n, int activation, cudaStream_t stream);

// ---- attention of a few queries per sequence over a cache (decode_attention.cu) ----

// Query rows per sequence up to which the decode kernel runs (as the CPU core's
// kDecodeAttentionMaxQueries); longer steps (a prompt) use the tiled flash kernels.
constexpr int kDecodeMaxQueries = 16;
// Query rows one block of the decode kernel holds (the rows of one kv head's group).
constexpr int kDecodeBlockRows = 16;

struct DecodeParams {
  int batch, heads, kv_heads, head_dim, value_dim;
  int max_q;   // the most query rows of a sequence (N, or the longest in packed rows)
  float scale;
  // Query (b, h, i) at q + base(b) + h * q_sh + i * q_ss, base(b) = q_row0[b] * q_ss when q_row0 is
  // set (packed rows), else b * q_sb; the output likewise with the o_ strides.
  const float* q;
  int64_t q_sb, q_sh, q_ss;
  float* out;
  int64_t o_sb, o_sh, o_ss;
  const int* q_row0;
  // Key/value (b, g, j) at k + b * k_sb + g * k_sh + j * k_ss (and v).
  const float* k;
  int64_t k_sb, k_sh, k_ss;
  const float* v;
  int64_t v_sb, v_sh, v_ss;
  const int* q_lens;  // [B] query rows of each sequence
  const int* k_lens;  // [B] cached rows (past + new): query i sees keys [0, k_len - q_len + i]
  int splits;         // key splits per block of rows (flash decoding); 1: no combine pass
  float* partial;     // splits > 1: DecodePartialFloats(...) floats of scratch
  // Cross-attention: every query sees keys [0, k_len) (no causal rule), and key_valid [B, key_valid_ld]
  // (nonzero = real key; null = all real) hides the padding keys.
  bool non_causal;
  const uint8_t* key_valid;
  int64_t key_valid_ld;
  // T5's relative bias [heads, bias_rows] or null: the score of query i (at position k_len - q_len + i)
  // and a visible key j gains position_bias[h * bias_rows + position - j] (the caller checks that every
  // position is below bias_rows).
  const float* position_bias;
  int64_t bias_rows;
};

// Blocks of rows per (sequence, kv head) for `max_q` queries and a group of heads / kv_heads.
int64_t DecodeRowChunks(int64_t heads, int64_t kv_heads, int64_t max_q);
// How many splits over the keys: enough blocks to fill the GPU (about 256, independent of the
// device, so the workspace is known without one), at least 256 keys per split, at most 64.
int DecodeSplits(int64_t batch, int64_t heads, int64_t kv_heads, int64_t max_q, int64_t max_k);
size_t DecodePartialFloats(int64_t batch, int64_t heads, int64_t max_q, int64_t value_dim, int splits);
cudaError_t LaunchDecodeAttention(const DecodeParams& p, cudaStream_t stream);

}  // namespace btc

#endif  // TFJS_BT_CUDA_DECODER_KERNELS_H_
