// The argument checks every native front end shares (kernels/shared/problem_checks.h):
// what they accept and reject, and the extents and strides they compute.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../../kernels/shared/problem_checks.h"
#include "test_support.h"

namespace {

using bt_checks::AttentionDims;

bool has(const std::string& message, const char* text) { return message.find(text) != std::string::npos; }

void counts() {
  const int64_t max = std::numeric_limits<int64_t>::max();
  int64_t n = -1;
  CHECK(bt_checks::CheckedProduct({2, 3, 4}, &n) && n == 24, "2*3*4");
  CHECK(bt_checks::CheckedProduct({}, &n) && n == 1, "empty product");
  CHECK(bt_checks::CheckedProduct({max, max, 0}, &n) && n == 0, "a zero count makes any product 0");
  CHECK(!bt_checks::CheckedProduct({int64_t(1) << 32, int64_t(1) << 31}, &n), "2^63 overflows");
  CHECK(bt_checks::CheckedProduct({int64_t(1) << 31, int64_t(1) << 31}, &n) && n == int64_t(1) << 62, "2^62 fits");
  CHECK(!bt_checks::CheckedProduct({-1, 2}, &n), "negative count");
  CHECK(bt_checks::CheckedAdd(max - 1, 1, &n) && n == max, "max - 1 + 1");
  CHECK(!bt_checks::CheckedAdd(max, 1, &n), "max + 1");
}

void attention_dims() {
  const AttentionDims ok{2, 4, 2, 3, 5, 8, 6};
  CHECK(bt_checks::AttentionDimsError(ok, true).empty(), "valid dims");
  AttentionDims d = ok;
  d.q_len = -1;
  CHECK(has(bt_checks::AttentionDimsError(d, false), "Sq (-1) must be non-negative"), "negative Sq");
  d = ok;
  d.kv_heads = 3;
  CHECK(bt_checks::AttentionDimsError(d, false) == "Hkv (3) must be a positive divisor of H (4)", "Hkv not dividing H");
  d.kv_heads = 0;
  CHECK(has(bt_checks::AttentionDimsError(d, false), "positive divisor"), "Hkv 0");
  // H = 0 and D = 0 are empty problems for the CPU core, errors where they are required.
  d = ok;
  d.heads = 0;
  d.kv_heads = 0;
  CHECK(bt_checks::AttentionDimsError(d, false).empty(), "H = Hkv = 0 without the requirement");
  CHECK(bt_checks::AttentionDimsError(d, true) == "H (0) must be at least 1", "H = 0 required");
  d = ok;
  d.head_dim = 0;
  CHECK(bt_checks::AttentionDimsError(d, false).empty(), "D = 0 without the requirement");
  CHECK(bt_checks::AttentionDimsError(d, true) == "D (0) must be at least 1", "D = 0 required");
  d = ok;
  d.batch = d.q_len = d.kv_len = d.value_dim = 0;
  CHECK(bt_checks::AttentionDimsError(d, true).empty(), "B, Sq, Sk and Dv may be 0");
}

void attention_shapes() {
  AttentionDims d{};
  CHECK(bt_checks::AttentionShapesError({2, 4, 3, 8}, {2, 2, 5, 8}, {2, 2, 5, 6}, &d).empty(), "agreeing shapes");
  CHECK(d.batch == 2 && d.heads == 4 && d.kv_heads == 2 && d.q_len == 3 && d.kv_len == 5 && d.head_dim == 8 &&
            d.value_dim == 6,
        "dims from shapes");
  CHECK(bt_checks::AttentionShapesError({4, 3, 8}, {2, 2, 5, 8}, {2, 2, 5, 6}, &d) == "q, k and v must have rank 4",
        "rank 3 q");
  const std::vector<std::vector<int64_t>> bad_k = {{3, 2, 5, 8}, {2, 2, 5, 7}};
  for (const auto& k : bad_k)
    CHECK(has(bt_checks::AttentionShapesError({2, 4, 3, 8}, k, {2, 2, 5, 6}, &d), "do not agree"), "k disagrees");
  const std::vector<std::vector<int64_t>> bad_v = {{1, 2, 5, 6}, {2, 1, 5, 6}, {2, 2, 4, 6}};
  for (const auto& v : bad_v)
    CHECK(has(bt_checks::AttentionShapesError({2, 4, 3, 8}, {2, 2, 5, 8}, v, &d), "do not agree"), "v disagrees");
}

void mask_strides() {
  const int64_t target[4] = {2, 4, 3, 5};
  int64_t s[4];
  CHECK(bt_checks::MaskBroadcastStrides({2, 4, 3, 5}, target, s, "mask").empty() && s[0] == 60 && s[1] == 15 &&
            s[2] == 5 && s[3] == 1,
        "full mask");
  CHECK(bt_checks::MaskBroadcastStrides({3, 5}, target, s, "mask").empty() && s[0] == 0 && s[1] == 0 && s[2] == 5 &&
            s[3] == 1,
        "[Sq, Sk] mask");
  CHECK(bt_checks::MaskBroadcastStrides({2, 1, 1, 5}, target, s, "mask").empty() && s[0] == 5 && s[1] == 0 &&
            s[2] == 0 && s[3] == 1,
        "[B, 1, 1, Sk] mask");
  CHECK(bt_checks::MaskBroadcastStrides({}, target, s, "mask").empty() && !s[0] && !s[1] && !s[2] && !s[3], "scalar");
  CHECK(bt_checks::MaskBroadcastStrides({7, 7}, target, s, "attn_mask") ==
            "attn_mask of shape [7, 7] does not broadcast to [B, H, Sq, Sk] = [2, 4, 3, 5]",
        "non-broadcasting mask");
  CHECK(bt_checks::MaskBroadcastStrides({1, 2, 4, 3, 5}, target, s, "attn_mask") == "attn_mask has rank above 4",
        "rank 5");
}

void mask_extent() {
  const int64_t sizes[4] = {2, 4, 3, 5};
  int64_t e = -1;
  const int64_t full[4] = {60, 15, 5, 1}, broadcast[4] = {0, 0, 5, 1}, toeplitz[4] = {0, 0, 1, 1};
  CHECK(bt_checks::MaskExtent(sizes, full, &e).empty() && e == 120, "full extent");
  CHECK(bt_checks::MaskExtent(sizes, broadcast, &e).empty() && e == 15, "broadcast extent");
  CHECK(bt_checks::MaskExtent(sizes, toeplitz, &e).empty() && e == 7, "Toeplitz extent");
  const int64_t empty[4] = {2, 0, 3, 5};
  CHECK(bt_checks::MaskExtent(empty, full, &e).empty() && e == 0, "nothing is read of an empty problem");
  const int64_t negative[4] = {60, -15, 5, 1};
  CHECK(has(bt_checks::MaskExtent(sizes, negative, &e), "non-negative"), "negative stride");
  const int64_t huge[4] = {0, 0, int64_t(1) << 62, 0};  // (Sq - 1) * 2^62 = 2^63
  CHECK(has(bt_checks::MaskExtent(sizes, huge, &e), "int64"), "offsets past int64");
  const int64_t last[4] = {std::numeric_limits<int64_t>::max(), 0, 0, 0}, one[4] = {2, 1, 1, 1};
  CHECK(has(bt_checks::MaskExtent(one, last, &e), "int64"), "extent one past int64");
}

void encoder_dims() {
  CHECK(bt_checks::EmbedDimError(1).empty(), "E = 1");
  CHECK(bt_checks::EmbedDimError(0) == "E (0) must be at least 1", "E = 0");
  CHECK(bt_checks::HeadCountError(12, 3, "num_heads").empty(), "3 heads of 4");
  CHECK(bt_checks::HeadCountError(0, 3, "num_heads").empty(), "E = 0 splits into any head count");
  CHECK(bt_checks::HeadCountError(12, 5, "numHeads") == "numHeads (5) must divide E (12)", "5 heads");
  CHECK(!bt_checks::HeadCountError(12, 0, "num_heads").empty(), "0 heads");
  CHECK(!bt_checks::HeadCountError(12, -3, "num_heads").empty(), "negative heads");
}

}  // namespace

int main() {
  counts();
  attention_dims();
  attention_shapes();
  mask_strides();
  mask_extent();
  encoder_dims();
  return test::finish("test_problem_checks");
}
