// The decoding ops on the GPU, composed from the kernels of decoder_kernels.h,
// the tiled attention kernels and cuBLASLt GEMMs: attention over a key/value
// cache (the op AttentionWithKVCache, and every layer of a decoder step) and a
// decoder's step (decoder-only, or an encoder-decoder model's decoder). Host
// tables (token rows, positions, lengths, the source mask) are planned here
// from the host values the ABI has checked, and uploaded into the caller's
// workspace.
#ifndef TFJS_BT_CUDA_DECODER_STACK_H_
#define TFJS_BT_CUDA_DECODER_STACK_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "bt_cuda.h"
#include "gemm_lt.h"

namespace btc {

// ---- RotaryEmbedding ----

size_t RotaryWorkspaceBytes(const bt_cuda_rotary_args& a);
int RunRotary(const bt_cuda_rotary_args& a, void* workspace, cudaStream_t stream, std::string* error);

// ---- AttentionWithKVCache ----

struct KvCachePlan {
  int max_q = 0;      // the most new tokens of a sequence
  int64_t max_k = 0;  // the most cached rows after the append
  bool ragged = false;  // some sequence has fewer than N new tokens (its padding rows output zeros)
  int splits = 1;
};

KvCachePlan PlanKvCache(const bt_cuda_kv_cache& a);
size_t KvCacheWorkspaceBytes(const bt_cuda_kv_cache& a, const KvCachePlan& plan);
int RunKvCache(const bt_cuda_kv_cache& a, const KvCachePlan& plan, void* workspace, cudaStream_t stream,
               std::string* error);

// ---- TransformerDecoderStack ----
// Encoder-decoder steps add per layer a cross-attention block over the step's cross caches (filled
// from encoder_states first when it is given), T5's position bias on the self-attention and an
// embedding norm; see decoder_stack.cu.

struct DecoderPlan {
  int64_t tokens = 0;  // T: the new tokens of every sequence, packed
  int max_q = 0;
  int64_t max_k = 0;
  std::vector<int> row_ids, row_pos, row_seq;  // [T]: token id, position, sequence of each packed row
  std::vector<int> first_row, q_lens, k_lens;  // [B]
  std::vector<int> selected;      // [S] packed rows whose logits are computed, in order
  std::vector<int> logits_source;  // [logits rows]: index into `selected`, or -1 (a row of zeros)
  bool direct = false;  // selected row s is logits row s for every row: the LM head writes the logits
  int splits = 1;
  // Encoder-decoder steps: the cross-attention's key rows per sequence ([B], all S), its key padding
  // ([B * S] from source_mask_host; empty: all real) and key splits.
  bool cross = false;
  std::vector<int> cross_k_lens;
  std::vector<uint8_t> key_valid;
  int cross_splits = 1;
  bool fill_cross = false;   // the cross caches are computed from encoder_states first
  bool bias_table = false;   // T5's position bias on the tiled (prompt) attention: its table in the workspace
};

DecoderPlan PlanDecoder(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s);
size_t DecoderWorkspaceBytes(const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, const DecoderPlan& plan);
// Returns a bt_cuda_status; `error` holds the message on failure.
int RunDecoder(const GemmLt& lt, const bt_cuda_decoder& m, const bt_cuda_decoder_step& s, const DecoderPlan& plan,
               void* workspace, cudaStream_t stream, std::string* error);

}  // namespace btc

#endif  // TFJS_BT_CUDA_DECODER_STACK_H_
