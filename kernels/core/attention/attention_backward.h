// Attention backward (template, instantiated per ISA), recomputing the
// probabilities from the saved logsumexp instead of storing them:
//
//   P = exp(S - lse), dV = P^T dO, dP = dO V^T, dS = P * (dP - D_i),
//   dQ = scale dS K, dK = scale dS^T Q, dMask = dS   (D_i = rowsum(dO * O)).
//
// No output is ever written by two threads, and the result does not depend on
// scheduling. With enough (batch, kv head) pairs to keep every thread busy, one
// task per pair walks its key tiles and accumulates dQ for its query heads in a
// private buffer (single pass). Otherwise two passes:
//   pass 1, one task per (batch, head, query tile): dQ (and dMask), scores in
//     the transposed [key][query] orientation like the forward;
//   pass 2, one task per (batch, kv head, key tile): dK and dV, summed over all
//     query heads sharing the kv head and every query tile that sees the keys,
//     scores in the [query][key] orientation so P and dS feed the kernel as-is.
// Rows whose lse is -inf (no visible key) contribute nothing: their lse is
// replaced by +inf, which makes every recomputed probability 0.
#ifndef BTK_ATTENTION_ATTENTION_BACKWARD_H_
#define BTK_ATTENTION_ATTENTION_BACKWARD_H_

#include "attention_tiles.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

// True when no two (b, h, i, j) in range map to the same mask element, so
// gradient tasks over distinct queries can add into the mask without racing.
static inline bool mask_elements_distinct(const AttentionProblem& p) {
  int64_t size[4] = {p.batch, p.heads, p.q_len, p.kv_len}, stride[4];
  int used = 0;
  for (int dim = 0; dim < 4; ++dim) {
    if (size[dim] <= 1) continue;
    if (p.mask_strides[dim] <= 0) return false;
    size[used] = size[dim];
    stride[used++] = p.mask_strides[dim];
  }
  // Sorted by stride, each stride must step over the whole extent of the smaller ones.
  for (int a = 0; a < used; ++a)
    for (int c = a + 1; c < used; ++c)
      if (stride[c] < stride[a]) {
        int64_t t = stride[a]; stride[a] = stride[c]; stride[c] = t;
        t = size[a]; size[a] = size[c]; size[c] = t;
      }
  int64_t extent = 1;
  for (int a = 0; a < used; ++a) {
    if (stride[a] < extent) return false;
    extent = stride[a] * (size[a] - 1) + extent;
  }
  return true;
}

template <class V, int MR, int NV>
struct AttentionBackward {
  using F = typename V::F;
  static constexpr int W = V::W;
  static constexpr int NR = NV * W;
  static constexpr int64_t BQ = 64, BK = 64;

  struct Job {
    const AttentionProblem* p;
    const AttentionOperand *q, *k, *v, *out;
    const AttentionGradients* g;
    const float* lse_or_inf;  // lse with -inf replaced by +inf, [B, H, Sq]
    const float* delta;       // D_i = rowsum(dO * O), [B, H, Sq]
    float* d_mask_per_thread; // thread_count() copies when mask elements repeat; else null
    int64_t d_pad, dv_pad, q_tiles, k_tiles;
    bool single_pass;  // dQ accumulated by the key-tile pass (one task per batch and kv head)
    bool out_of_memory;
  };

  // Where this thread adds mask gradients (null when none are wanted).
  static float* mask_gradient_target(const Job& job) {
    if (!job.g->d_mask || job.p->mask_kind != BTK_MASK_FLOAT) return nullptr;
    return job.d_mask_per_thread ? job.d_mask_per_thread + current_thread_index() * job.g->mask_extent : job.g->d_mask;
  }

  // Per query tile: scaled Q^T, dO^T, and the lse / D_i lanes.
  static void load_query_tile(const Job& job, int64_t b, int64_t h, int64_t q0, int64_t nq, float* q_t, float* d_out_t,
                              float* lse_lanes, float* delta_lanes) {
    const AttentionProblem& p = *job.p;
    pack_transposed(job.q->data + operand_offset(*job.q, b, h, q0), job.q->row_stride, nq, p.head_dim, p.scale, q_t, BQ);
    pack_transposed(job.g->d_out.data + operand_offset(job.g->d_out, b, h, q0), job.g->d_out.row_stride, nq, p.value_dim,
                    1.0f, d_out_t, BQ);
    const int64_t row = (b * p.heads + h) * p.q_len + q0;
    for (int64_t i = 0; i < BQ; ++i) {
      lse_lanes[i] = i < nq ? job.lse_or_inf[row + i] : INFINITY;
      delta_lanes[i] = i < nq ? job.delta[row + i] : 0.0f;
    }
  }

  // ---- pass 1: dQ (+ dMask) per (b, h, query tile) ----
  static void d_query_tile(Job& job, float* scratch, int64_t task) {
    const AttentionProblem& p = *job.p;
    const int64_t b = task / (p.heads * job.q_tiles), h = (task / job.q_tiles) % p.heads;
    const int64_t q0 = (task % job.q_tiles) * BQ, sq = p.q_len, sk = p.kv_len;
    const int64_t nq = min_i64(BQ, sq - q0), nq_rows = round_up(nq, MR), nq_cols = round_up(nq, NR);
    const int64_t kv_head = h / (p.heads / p.kv_heads), d = p.head_dim, dv = p.value_dim, d_pad = job.d_pad;
    float* q_t = scratch;                 // [D][BQ]
    float* d_out_t = q_t + d * BQ;        // [Dv][BQ]
    float* k_t = d_out_t + dv * BQ;       // [D][BK]
    float* v_t = k_t + d * BK;            // [Dv][BK]
    float* p_t = v_t + dv * BK;           // [BK][BQ]
    float* ds_t = p_t + BK * BQ;          // [BK][BQ]
    float* k_padded = ds_t + BK * BQ;     // [BK][d_pad]
    float* dq_acc = k_padded + BK * d_pad;  // [BQ][d_pad]
    float* lse_lanes = dq_acc + BQ * d_pad;
    float* delta_lanes = lse_lanes + BQ;

    load_query_tile(job, b, h, q0, nq, q_t, d_out_t, lse_lanes, delta_lanes);
    memset(dq_acc, 0, sizeof(float) * BQ * d_pad);
    float* d_mask = mask_gradient_target(job);

    const float* k_base = job.k->data + operand_offset(*job.k, b, kv_head, 0);
    const float* v_base = job.v->data + operand_offset(*job.v, b, kv_head, 0);
    const int64_t key_end = visible_key_end(p, q0, nq, sq, sk);
    for (int64_t k0 = 0; k0 < key_end; k0 += BK) {
      const int64_t nk = min_i64(BK, key_end - k0), nk_rows = round_up(nk, MR);
      if (!key_tile_has_real_key(p, b, k0, nk)) continue;
      pack_transposed(k_base + k0 * job.k->row_stride, job.k->row_stride, nk, d, 1.0f, k_t, BK);
      pack_transposed(v_base + k0 * job.v->row_stride, job.v->row_stride, nk, dv, 1.0f, v_t, BK);
      for (int64_t r = 0; r < nk_rows; r += MR)
        for (int64_t c = 0; c < nq_cols; c += NR) {
          tile_kernel<V, MR, NV>(d, k_t + r, BK, q_t + c, BQ, p_t + r * BQ + c, BQ, false);
          tile_kernel<V, MR, NV>(dv, v_t + r, BK, d_out_t + c, BQ, ds_t + r * BQ + c, BQ, false);  // dP^T
        }
      apply_masks(p_t, 1, BQ, p, b, h, q0, nq, k0, nk, sq, sk);
      const uint8_t* real = padded_keys_in_tile(p, b, k0, nk);
      for (int64_t j = 0; j < nk; ++j) {
        if (real && !real[j]) {  // a padded key: dS is exactly 0, whatever its v made of dP
          memset(ds_t + j * BQ, 0, sizeof(float) * nq_cols);
          continue;
        }
        for (int64_t c = 0; c < nq_cols; c += W) {
          const F prob = vexp<V>(V::sub(V::load(p_t + j * BQ + c), V::load(lse_lanes + c)));
          const F d_prob = V::load(ds_t + j * BQ + c);
          V::store(ds_t + j * BQ + c, V::mul(prob, V::sub(d_prob, V::load(delta_lanes + c))));
        }
      }
      if (d_mask)
        for (int64_t i = 0; i < nq; ++i)
          for (int64_t j = 0; j < nk; ++j) d_mask[mask_index(p, b, h, q0 + i, k0 + j)] += ds_t[j * BQ + i];
      const float* k_rows = k_base + k0 * job.k->row_stride;
      int64_t k_step = job.k->row_stride;
      if (real) {
        pack_real_rows(k_rows, k_step, nk, d, k_padded, d_pad, real);
        k_rows = k_padded;
        k_step = d_pad;
      } else if (d != d_pad) {
        pack_rows_padded(k_rows, k_step, nk, d, k_padded, d_pad);
        k_rows = k_padded;
        k_step = d_pad;
      }
      for (int64_t r = 0; r < nq_rows; r += MR)
        for (int64_t c = 0; c < d_pad; c += NR)
          tile_kernel<V, MR, NV>(nk, ds_t + r, BQ, k_rows + c, k_step, dq_acc + r * d_pad + c, d_pad, true);
    }
    float* d_q = job.g->d_q + ((b * p.heads + h) * sq + q0) * d;
    for (int64_t i = 0; i < nq; ++i)
      for (int64_t c = 0; c < d; ++c) d_q[i * d + c] = p.scale * dq_acc[i * d_pad + c];
  }

  // ---- pass 2: dK, dV of one key tile of (b, kv head); in single-pass mode
  // also dQ (into dq_acc, [group][q_tiles * BQ][d_pad]) and dMask ----
  static void d_key_tile(Job& job, float* scratch, int64_t b, int64_t kv_head, int64_t k0, float* dq_acc) {
    const AttentionProblem& p = *job.p;
    const int64_t sq = p.q_len, sk = p.kv_len;
    const int64_t nk = min_i64(BK, sk - k0), nk_cols = round_up(nk, NR), nk_rows = round_up(nk, MR);
    const int64_t d = p.head_dim, dv = p.value_dim, d_pad = job.d_pad, dv_pad = job.dv_pad;
    const int64_t group = p.heads / p.kv_heads;
    float* q_t = scratch;                   // [D][BQ]
    float* d_out_t = q_t + d * BQ;          // [Dv][BQ]
    float* k_t = d_out_t + dv * BQ;         // [D][BK]
    float* v_t = k_t + d * BK;              // [Dv][BK]
    float* prob = v_t + dv * BK;            // [BQ][BK]
    float* d_score = prob + BQ * BK;        // [BQ][BK]
    float* q_padded = d_score + BQ * BK;    // [BQ][d_pad]
    float* d_out_padded = q_padded + BQ * d_pad;  // [BQ][dv_pad]
    float* dk_acc = d_out_padded + BQ * dv_pad;   // [BK][d_pad]
    float* dv_acc = dk_acc + BK * d_pad;          // [BK][dv_pad]
    float* k_padded = dv_acc + BK * dv_pad;       // [BK][d_pad]
    float* lse_lanes = k_padded + BK * d_pad;
    float* delta_lanes = lse_lanes + BQ;
    float* d_mask = dq_acc ? mask_gradient_target(job) : nullptr;

    memset(dk_acc, 0, sizeof(float) * BK * d_pad);
    memset(dv_acc, 0, sizeof(float) * BK * dv_pad);
    const float* k_base = job.k->data + operand_offset(*job.k, b, kv_head, k0);
    const float* v_base = job.v->data + operand_offset(*job.v, b, kv_head, k0);
    const bool any_real_key = key_tile_has_real_key(p, b, k0, nk);
    const uint8_t* real = padded_keys_in_tile(p, b, k0, nk);
    if (any_real_key) {
      pack_transposed(k_base, job.k->row_stride, nk, d, 1.0f, k_t, BK);
      pack_transposed(v_base, job.v->row_stride, nk, dv, 1.0f, v_t, BK);
    }
    const float* k_rows = k_base;  // [nk][d_pad] rows for dQ += dS . K
    int64_t k_step = job.k->row_stride;
    if (dq_acc && any_real_key && (real || d != d_pad)) {
      if (real) pack_real_rows(k_base, k_step, nk, d, k_padded, d_pad, real);
      else pack_rows_padded(k_base, k_step, nk, d, k_padded, d_pad);
      k_rows = k_padded;
      k_step = d_pad;
    }
    // Queries before first_query cannot see key k0 (causal), so tiles ending before it are skipped.
    const int64_t first_query = p.causal ? k0 - (sk - sq) : 0;
    const int64_t causal_offset = p.causal ? sk - sq : INT64_MAX / 2;
    for (int64_t h = kv_head * group; any_real_key && h < (kv_head + 1) * group; ++h) {
      for (int64_t q0 = first_query > 0 ? (first_query / BQ) * BQ : 0; q0 < sq; q0 += BQ) {
        const int64_t nq = min_i64(BQ, sq - q0), nq_rows = round_up(nq, MR);
        load_query_tile(job, b, h, q0, nq, q_t, d_out_t, lse_lanes, delta_lanes);
        for (int64_t r = 0; r < nq_rows; r += MR)
          for (int64_t c = 0; c < nk_cols; c += NR) {
            if (k0 + c > q0 + r + MR - 1 + causal_offset) {
              // Causal: every key of the block is hidden from every query of it. Its
              // scores become -inf in apply_masks; dP must be finite (P * dP = 0).
              for (int64_t i = r; i < r + MR; ++i) memset(d_score + i * BK + c, 0, sizeof(float) * NR);
              continue;
            }
            tile_kernel<V, MR, NV>(d, q_t + r, BQ, k_t + c, BK, prob + r * BK + c, BK, false);
            tile_kernel<V, MR, NV>(dv, d_out_t + r, BQ, v_t + c, BK, d_score + r * BK + c, BK, false);  // dP
          }
        apply_masks(prob, BK, 1, p, b, h, q0, nq, k0, nk, sq, sk);
        for (int64_t i = 0; i < nq; ++i) {
          const F lse = V::set1(lse_lanes[i]), delta = V::set1(delta_lanes[i]);
          for (int64_t c = 0; c < nk_cols; c += W) {
            const F pr = vexp<V>(V::sub(V::load(prob + i * BK + c), lse));
            V::store(prob + i * BK + c, pr);
            V::store(d_score + i * BK + c, V::mul(pr, V::sub(V::load(d_score + i * BK + c), delta)));
          }
          // Padded keys: dS exactly 0, whatever their v made of dP.
          if (real)
            for (int64_t j = 0; j < nk; ++j)
              if (!real[j]) d_score[i * BK + j] = 0.0f;
        }
        const float* q_rows = job.q->data + operand_offset(*job.q, b, h, q0);
        const float* d_out_rows = job.g->d_out.data + operand_offset(job.g->d_out, b, h, q0);
        int64_t q_step = job.q->row_stride, d_out_step = job.g->d_out.row_stride;
        if (d != d_pad) { pack_rows_padded(q_rows, q_step, nq, d, q_padded, d_pad); q_rows = q_padded; q_step = d_pad; }
        if (dv != dv_pad) {
          pack_rows_padded(d_out_rows, d_out_step, nq, dv, d_out_padded, dv_pad);
          d_out_rows = d_out_padded;
          d_out_step = dv_pad;
        }
        for (int64_t r = 0; r < nk_rows; r += MR) {
          // Causal: queries before `start` see none of these keys (P = dS = 0), skip them.
          const int64_t start = max_i64(0, k0 + r - causal_offset - q0);
          if (start >= nq) continue;
          for (int64_t c = 0; c < dv_pad; c += NR)
            tile_kernel<V, MR, NV>(nq - start, prob + start * BK + r, BK, d_out_rows + start * d_out_step + c, d_out_step,
                                   dv_acc + r * dv_pad + c, dv_pad, true);
          for (int64_t c = 0; c < d_pad; c += NR)
            tile_kernel<V, MR, NV>(nq - start, d_score + start * BK + r, BK, q_rows + start * q_step + c, q_step,
                                   dk_acc + r * d_pad + c, d_pad, true);
        }
        if (!dq_acc) continue;
        // dQ rows += dS . K: dS is row-major [query][key], read with the constant row stride BK.
        float* dq_rows = dq_acc + ((h - kv_head * group) * job.q_tiles * BQ + q0) * d_pad;
        for (int64_t r = 0; r < nq_rows; r += MR) {
          const int64_t keys = min_i64(nk, q0 + r + MR + causal_offset - k0);  // causally visible keys of the block
          if (keys <= 0) continue;
          for (int64_t c = 0; c < d_pad; c += NR)
            tile_kernel<V, MR, NV, BK>(keys, d_score + r * BK, 1, k_rows + c, k_step, dq_rows + r * d_pad + c, d_pad, true);
        }
        if (d_mask)
          for (int64_t i = 0; i < nq; ++i)
            for (int64_t j = 0; j < nk; ++j) d_mask[mask_index(p, b, h, q0 + i, k0 + j)] += d_score[i * BK + j];
      }
    }
    float* d_k = job.g->d_k + ((b * p.kv_heads + kv_head) * sk + k0) * d;
    float* d_v = job.g->d_v + ((b * p.kv_heads + kv_head) * sk + k0) * dv;
    for (int64_t j = 0; j < nk; ++j) {
      for (int64_t c = 0; c < d; ++c) d_k[j * d + c] = p.scale * dk_acc[j * d_pad + c];
      for (int64_t c = 0; c < dv; ++c) d_v[j * dv + c] = dv_acc[j * dv_pad + c];
    }
  }

  static bool run(const AttentionProblem& p, const AttentionOperand& q, const AttentionOperand& k,
                  const AttentionOperand& v, const AttentionOperand& out, const AttentionGradients& g) {
    const int64_t rows = p.batch * p.heads * p.q_len;
    const int64_t d = p.head_dim, dv = p.value_dim;
    if (g.d_mask && p.mask_kind == BTK_MASK_FLOAT) memset(g.d_mask, 0, sizeof(float) * g.mask_extent);
    if (rows == 0 || p.kv_len == 0) {  // nothing attends: all gradients are zero
      const int64_t kv_rows = p.batch * p.kv_heads * p.kv_len;
      if (rows * d > 0) memset(g.d_q, 0, sizeof(float) * rows * d);
      if (kv_rows * d > 0) memset(g.d_k, 0, sizeof(float) * kv_rows * d);
      if (kv_rows * dv > 0) memset(g.d_v, 0, sizeof(float) * kv_rows * dv);
      return true;
    }
    ScratchFloats row_stats(2 * rows);
    if (!row_stats.data) return false;
    float* lse_or_inf = row_stats.data;
    float* delta = row_stats.data + rows;
    for (int64_t r = 0; r < rows; ++r) {
      const float lse = g.lse[r];
      lse_or_inf[r] = lse == kMinusInfinity ? INFINITY : lse;
      const float* o = g.out + r * dv;
      const float* d_o = g.d_out.data + r * dv;
      float sum = 0.0f;
      for (int64_t c = 0; c < dv; ++c) sum += o[c] * d_o[c];
      delta[r] = sum;
    }
    Job job{&p, &q, &k, &v, &out, &g, lse_or_inf, delta, nullptr, round_up(max_i64(d, 1), NR),
            round_up(max_i64(dv, 1), NR), ceil_div(p.q_len, BQ), ceil_div(p.kv_len, BK), false, false};

    const int threads = thread_count();
    // One pass (S and dP computed once per tile pair: 5 small GEMMs instead of 7)
    // needs one task per (batch, kv head) and a dQ buffer per task; use it when
    // that still gives every thread work and the buffer stays modest.
    const int64_t group = p.heads / p.kv_heads;
    const int64_t dq_floats = group * job.q_tiles * BQ * job.d_pad;
    job.single_pass = (threads == 1 || p.batch * p.kv_heads >= 2 * threads) && dq_floats <= (int64_t(4) << 20);
    const bool private_d_mask = g.d_mask && p.mask_kind == BTK_MASK_FLOAT && !mask_elements_distinct(p);
    ScratchFloats d_mask_copies(private_d_mask ? threads * g.mask_extent : 0);
    if (private_d_mask) {
      if (!d_mask_copies.data) return false;
      memset(d_mask_copies.data, 0, sizeof(float) * threads * g.mask_extent);
      job.d_mask_per_thread = d_mask_copies.data;
    }
    const int64_t d_pad = job.d_pad, dv_pad = job.dv_pad;
    const int64_t scratch_floats =
        (d + dv) * (BQ + BK) + 2 * BQ * BK + (BQ + BK) * (d_pad + dv_pad) + BK * d_pad + 2 * BQ + 64;
    if (job.single_pass) {
      auto one_pass = [&job, &p, scratch_floats, dq_floats, group](int64_t begin, int64_t end) {
        ScratchFloats scratch(scratch_floats), dq_acc(dq_floats);
        if (!scratch.data || !dq_acc.data) { job.out_of_memory = true; return; }
        for (int64_t task = begin; task < end; ++task) {
          const int64_t b = task / p.kv_heads, kv_head = task % p.kv_heads;
          memset(dq_acc.data, 0, sizeof(float) * dq_floats);
          for (int64_t k0 = 0; k0 < p.kv_len; k0 += BK) d_key_tile(job, scratch.data, b, kv_head, k0, dq_acc.data);
          for (int64_t g_head = 0; g_head < group; ++g_head) {
            const int64_t h = kv_head * group + g_head;
            float* d_q = job.g->d_q + (b * p.heads + h) * p.q_len * p.head_dim;
            const float* acc = dq_acc.data + g_head * job.q_tiles * BQ * job.d_pad;
            for (int64_t i = 0; i < p.q_len; ++i)
              for (int64_t c = 0; c < p.head_dim; ++c) d_q[i * p.head_dim + c] = p.scale * acc[i * job.d_pad + c];
          }
        }
      };
      parallel_for_each(p.batch * p.kv_heads, 1, one_pass);
    } else {
      auto pass1 = [&job, scratch_floats](int64_t begin, int64_t end) {
        ScratchFloats scratch(scratch_floats);
        if (!scratch.data) { job.out_of_memory = true; return; }
        for (int64_t task = begin; task < end; ++task) d_query_tile(job, scratch.data, task);
      };
      parallel_for_each(p.batch * p.heads * job.q_tiles, 1, pass1);
      auto pass2 = [&job, &p, scratch_floats](int64_t begin, int64_t end) {
        ScratchFloats scratch(scratch_floats);
        if (!scratch.data) { job.out_of_memory = true; return; }
        for (int64_t task = begin; task < end; ++task)
          d_key_tile(job, scratch.data, task / (p.kv_heads * job.k_tiles), (task / job.k_tiles) % p.kv_heads,
                     (task % job.k_tiles) * BK, nullptr);
      };
      parallel_for_each(p.batch * p.kv_heads * job.k_tiles, 1, pass2);
    }
    if (private_d_mask)
      for (int t = 0; t < threads; ++t)
        for (int64_t e = 0; e < g.mask_extent; ++e) g.d_mask[e] += d_mask_copies.data[t * g.mask_extent + e];
    return !job.out_of_memory;
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_ATTENTION_ATTENTION_BACKWARD_H_
