// Flash-style attention forward (template, instantiated per ISA).
//
// Keys are first packed transposed, once per call (TransposedKeys: kT [D][BK]
// per key tile). One task = (batch, head, tile of BQ queries). Its queries are
// packed transposed and pre-scaled (qT [D][BQ]); then for each tile of BK keys
//   1. the transposed score tile sT[key][query] = K . Q^T comes from the micro-kernel,
//   2. applies the masks,
//   3. runs the online softmax column-wise: the vector lanes are queries, so the
//      running max and sum need no horizontal reductions, and the probabilities
//      it writes back into sT are already in the k-major layout P . V needs,
//   4. rescales the output accumulator and adds P . V with the micro-kernel,
//      reading V rows in place when Dv is a multiple of the kernel width.
// Key tiles past the causal limit or made only of padding are never touched.
// Memory per task is a few tiles, independent of the sequence lengths.
#ifndef BTK_ATTENTION_ATTENTION_FORWARD_H_
#define BTK_ATTENTION_ATTENTION_FORWARD_H_

#include "attention_tiles.h"

namespace btk {
namespace {  // internal linkage: each ISA translation unit keeps its own copy

template <class V, int MR, int NV>
struct AttentionForward {
  using F = typename V::F;
  static constexpr int W = V::W;
  static constexpr int NR = NV * W;
  static constexpr int64_t BQ = 64, BK = 64;
  static_assert(BQ % MR == 0 && BK % MR == 0 && BQ % NR == 0 && BK % NR == 0, "tiles must hold whole kernel tiles");

  struct Scratch {
    float *q_t, *s_t, *out_acc, *v_padded, *row_max, *row_sum, *rescale;
  };

  struct Job {
    const AttentionProblem* p;
    const AttentionOperand *q, *k, *v, *out;
    const TransposedKeys<BK>* keys;
    float* lse;
    int64_t q_tiles_per_head;  // of the longest sequence; shorter ones skip the extra tiles
    int64_t value_dim_padded;
    bool out_of_memory;
  };

  static void run_tile(Job& job, const Scratch& s, int64_t task) {
    const AttentionProblem& p = *job.p;
    const int64_t b = task / (p.heads * job.q_tiles_per_head);
    const int64_t h = (task / job.q_tiles_per_head) % p.heads;
    // Last query tiles first: under a causal mask they see the most keys, and
    // starting the longest tasks first keeps the threads' finishing times close.
    const int64_t q0 = (job.q_tiles_per_head - 1 - task % job.q_tiles_per_head) * BQ;
    const int64_t sq = q_len_of(p, b), sk = kv_len_of(p, b);
    if (q0 >= sq) return;
    const int64_t nq = min_i64(BQ, sq - q0), nq_rows = round_up(nq, MR), nq_cols = round_up(nq, NR);
    const int64_t kv_head = h / (p.heads / p.kv_heads);
    const int64_t d = p.head_dim, dv = p.value_dim, dv_pad = job.value_dim_padded;
    const bool v_in_place = dv == dv_pad;

    pack_transposed(job.q->data + operand_offset(*job.q, b, h, q0), job.q->row_stride, nq, d, p.scale, s.q_t, BQ);
    for (int64_t i = 0; i < BQ; ++i) { s.row_max[i] = kMinusInfinity; s.row_sum[i] = 0.0f; }
    memset(s.out_acc, 0, sizeof(float) * BQ * dv_pad);

    const float* v_base = job.v->data + operand_offset(*job.v, b, kv_head, 0);
    const int64_t key_end = visible_key_end(p, q0, nq, sq, sk);
    for (int64_t k0 = 0; k0 < key_end; k0 += BK) {
      const int64_t nk = min_i64(BK, key_end - k0), nk_rows = round_up(nk, MR);
      if (!key_tile_has_real_key(p, b, k0, nk)) continue;

      const float* k_t = job.keys->tile(p, b, kv_head, k0);
      // Causal: a block whose keys all come after its queries' limit is skipped
      // (its scores are set to -inf by apply_masks without being read).
      const int64_t causal_offset = p.causal ? sk - sq : INT64_MAX / 2;
      for (int64_t r = 0; r < nk_rows; r += MR)
        for (int64_t c = 0; c < nq_cols; c += NR)
          if (k0 + r <= q0 + c + NR - 1 + causal_offset)
            tile_kernel<V, MR, NV>(d, k_t + r, BK, s.q_t + c, BQ, s.s_t + r * BQ + c, BQ, false);
      apply_masks(s.s_t, 1, BQ, p, b, h, q0, nq, k0, nk, sq, sk);

      online_softmax_step(s, nk, nq_cols);

      for (int64_t i = 0; i < nq; ++i) {
        const F factor = V::set1(s.rescale[i]);
        float* row = s.out_acc + i * dv_pad;
        for (int64_t c = 0; c < dv_pad; c += W) V::store(row + c, V::mul(V::load(row + c), factor));
      }
      const float* v_rows = v_base + k0 * job.v->row_stride;
      int64_t v_step = job.v->row_stride;
      const uint8_t* real = padded_keys_in_tile(p, b, k0, nk);
      if (real) {
        pack_real_rows(v_rows, job.v->row_stride, nk, dv, s.v_padded, dv_pad, real);
        v_rows = s.v_padded;
        v_step = dv_pad;
      } else if (!v_in_place) {
        pack_rows_padded(v_rows, job.v->row_stride, nk, dv, s.v_padded, dv_pad);
        v_rows = s.v_padded;
        v_step = dv_pad;
      }
      for (int64_t r = 0; r < nq_rows; r += MR) {
        // Keys past the causal limit of the block's last query have probability 0: stop before them.
        const int64_t keys = min_i64(nk, q0 + r + MR + causal_offset - k0);
        if (keys <= 0) continue;
        for (int64_t c = 0; c < dv_pad; c += NR)
          tile_kernel<V, MR, NV>(keys, s.s_t + r, BQ, v_rows + c, v_step, s.out_acc + r * dv_pad + c, dv_pad, true);
      }
    }

    float* out = const_cast<float*>(job.out->data) + operand_offset(*job.out, b, h, q0);
    for (int64_t i = 0; i < nq; ++i) {
      const float sum = s.row_sum[i];
      // A query that sees no key (sum 0) outputs zeros and lse = -inf.
      const F inverse = V::set1(sum == 0.0f ? 0.0f : 1.0f / sum);
      const float* acc = s.out_acc + i * dv_pad;
      float* dst = out + i * job.out->row_stride;
      for (int64_t c = 0; c < dv; c += W) {
        const int n = static_cast<int>(min_i64(W, dv - c));
        const F value = V::mul(V::load(acc + c), inverse);
        if (n == W) V::store(dst + c, value); else V::store_partial(dst + c, value, n);
      }
      if (job.lse) job.lse[(b * p.heads + h) * p.q_len + q0 + i] = sum == 0.0f ? kMinusInfinity : s.row_max[i] + logf(sum);
    }
  }

  // Column-wise online softmax over the nk valid key rows of s_t: updates the
  // running max and sum per query lane, turns scores into probabilities
  // exp(s - max) in place and leaves each lane's rescale factor for the output.
  static void online_softmax_step(const Scratch& s, int64_t nk, int64_t nq_cols) {
    const F minus_inf = V::set1(kMinusInfinity);
    for (int64_t c = 0; c < nq_cols; c += W) {
      F tile_max = minus_inf;
      for (int64_t j = 0; j < nk; ++j) tile_max = V::max(tile_max, V::load(s.s_t + j * BQ + c));
      const F old_max = V::load(s.row_max + c);
      const F new_max = V::max(old_max, tile_max);
      // All keys so far excluded: subtract 0 so exp(-inf - max) is 0, not NaN.
      const F shift = V::select_eq(new_max, minus_inf, V::zero(), new_max);
      const F rescale = vexp<V>(V::sub(old_max, shift));
      F sum = V::zero();
      for (int64_t j = 0; j < nk; ++j) {
        const F prob = vexp<V>(V::sub(V::load(s.s_t + j * BQ + c), shift));
        V::store(s.s_t + j * BQ + c, prob);
        sum = V::add(sum, prob);
      }
      V::store(s.row_sum + c, V::fmadd(V::load(s.row_sum + c), rescale, sum));
      V::store(s.row_max + c, new_max);
      V::store(s.rescale + c, rescale);
    }
  }

  static bool run(const AttentionProblem& p, const AttentionOperand& q, const AttentionOperand& k,
                  const AttentionOperand& v, const AttentionOperand& out, float* lse) {
    int64_t longest = p.q_len;
    if (p.q_lens) {
      longest = 0;
      for (int64_t b = 0; b < p.batch; ++b) longest = max_i64(longest, p.q_lens[b]);
    }
    const TransposedKeys<BK> keys(p, k);
    if (!keys.ok) return false;
    Job job{&p, &q, &k, &v, &out, &keys, lse, ceil_div(longest, BQ), round_up(max_i64(p.value_dim, 1), NR), false};
    const int64_t tasks = p.batch * p.heads * job.q_tiles_per_head;
    const int64_t d = p.head_dim, dv_pad = job.value_dim_padded;
    auto body = [&job, d, dv_pad](int64_t begin, int64_t end) {
      ScratchFloats memory(d * BQ + BK * BQ + 2 * BQ * dv_pad + BK * dv_pad + 3 * BQ + 8 * 16);
      if (!memory.data) { job.out_of_memory = true; return; }
      Scratch s;
      float* next = memory.data;
      auto take = [&next](int64_t count) { float* block = next; next += round_up(count, 16); return block; };
      s.q_t = take(d * BQ); s.s_t = take(BK * BQ); s.out_acc = take(BQ * dv_pad);
      s.v_padded = take(BK * dv_pad); s.row_max = take(BQ); s.row_sum = take(BQ); s.rescale = take(BQ);
      for (int64_t task = begin; task < end; ++task) run_tile(job, s, task);
    };
    parallel_for_each(tasks, 1, body);
    return !job.out_of_memory;
  }
};

}  // namespace
}  // namespace btk

#endif  // BTK_ATTENTION_ATTENTION_FORWARD_H_
