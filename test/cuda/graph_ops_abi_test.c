/* Checks the C ABI of the graph ops and beam search's reorder (bt_cuda_layer_norm,
 * bt_cuda_embedding_sum, bt_cuda_reorder_cache) without a GPU: bad arguments give
 * BT_CUDA_INVALID_ARGUMENT (or UNSUPPORTED) with a message naming them, never a crash; a
 * table row or source row out of range is refused before any device work; valid calls give
 * BT_CUDA_NO_DEVICE where there is no driver or device (and write no output). On a GPU
 * machine the device-dependent checks switch to asserting that host pointers are refused.
 * Built and run by tools/build-cuda.sh. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "abi_test.h"
#include "bt_cuda.h"

static size_t round256(size_t n) { return (n + 255) / 256 * 256; }

/* Host buffers standing in for device memory: validation never dereferences them. */
static float w[4096];

static bt_cuda_layer_norm_args valid_layer_norm(void) {
  bt_cuda_layer_norm_args a;
  memset(&a, 0, sizeof a);
  a.rows = 3; a.width = 8; a.eps = 1e-5f; a.x = w; a.gamma = w + 64; a.beta = w + 128; a.y = w + 256;
  return a;
}

/* Three terms over 6 output rows: a word table [10, 8], a position table [6, 8], a type table [2, 8]. */
static const float* tables[3] = {w, w + 1024, w + 2048};
static int64_t table_rows[3] = {10, 6, 2};
static int32_t row_ids[3 * 6] = {0, 9, 3, 3, 7, 1, /* */ 0, 1, 2, 3, 4, 5, /* */ 0, 0, 1, 1, 0, 1};

static bt_cuda_embedding_sum_args valid_sum(void) {
  bt_cuda_embedding_sum_args a;
  memset(&a, 0, sizeof a);
  a.rows = 6; a.width = 8; a.num_terms = 3; a.has_norm = 1; a.eps = 1e-12f;
  a.tables_host = tables; a.table_rows_host = table_rows; a.row_ids_host = row_ids;
  a.gamma = w + 3000; a.beta = w + 3008; a.y = w + 3072;
  return a;
}

/* Caches [2 layers, 3 rows, 2 kv heads, 4 positions, 2]: 96 floats each. */
static int32_t lengths[3] = {4, 2, 0};
static int32_t sources[3] = {1, 0, 0};
static int32_t new_lengths[3];

static bt_cuda_reorder_cache_args valid_reorder(void) {
  bt_cuda_reorder_cache_args a;
  memset(&a, 0, sizeof a);
  a.num_layers = 2; a.batch = 3; a.kv_heads = 2; a.capacity = 4; a.head_dim = 2;
  a.key_cache = w; a.value_cache = w + 96;
  a.lengths_host = lengths; a.source_rows_host = sources; a.new_lengths_host = new_lengths;
  return a;
}

static void layer_norm_checks(void) {
  bt_cuda_layer_norm_args a = valid_layer_norm();
  expect("null layer norm", bt_cuda_layer_norm(NULL, NULL, NULL), BT_CUDA_INVALID_ARGUMENT);
  a.eps = -1.f;
  expect("negative layer norm eps", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_layer_norm(); a.eps = INFINITY;
  expect("infinite layer norm eps", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_layer_norm(); a.y = NULL;
  expect("layer norm without y", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the missing pointer is named", "x or y is null");
  a = valid_layer_norm(); a.rows = -1;
  expect("negative rows", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_layer_norm(); a.y = w + 4;
  expect("y overlapping x", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_layer_norm(); a.width = (int64_t)1 << 40;
  expect("width past the kernels' limits", bt_cuda_layer_norm(NULL, &a, NULL), BT_CUDA_UNSUPPORTED);
}

static void embedding_sum_checks(void) {
  size_t bytes = 0;
  bt_cuda_embedding_sum_args a = valid_sum();
  expect("null embedding sum", bt_cuda_embedding_sum_workspace_bytes(NULL, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect("embedding sum without bytes", bt_cuda_embedding_sum_workspace_bytes(&a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a.num_terms = 0;
  expect("no terms", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_sum(); a.eps = -1.f;
  expect("negative embedding sum eps", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_sum(); a.y = NULL;
  expect("embedding sum without y", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_sum(); a.row_ids_host = NULL;
  expect("embedding sum without row ids", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_sum(); a.tables_host = NULL;
  expect("embedding sum without tables", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  /* A row id past its table: refused, naming it, before anything runs. */
  row_ids[1] = 10;
  a = valid_sum();
  expect("a row id past the table", bt_cuda_embedding_sum(NULL, &a, w, 4096, NULL), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the row id is named", "row_ids_host[0, 1] = 10 is outside [0, 10)");
  row_ids[1] = 9;
  row_ids[12] = -1;
  expect("a negative row id", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the negative row id is named", "row_ids_host[2, 0] = -1");
  row_ids[12] = 0;
  table_rows[1] = -1;
  expect("negative table rows", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  table_rows[1] = 6;
  a = valid_sum(); a.y = w + 1030;
  expect("y overlapping a table", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the overlapped table is named", "term 1: y overlaps the table");
  a = valid_sum();
  expect("embedding sum workspace query", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  check("the workspace holds the row ids and the table pointers",
        bytes == round256(3 * 6 * sizeof(int32_t)) + round256(3 * sizeof(float*)));
  expect("embedding sum with a small workspace", bt_cuda_embedding_sum(NULL, &a, w, bytes - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  expect("embedding sum without a workspace", bt_cuda_embedding_sum(NULL, &a, NULL, bytes, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  /* No rows: nothing is read, no workspace, no table needed. */
  a = valid_sum(); a.rows = 0; a.tables_host = NULL; a.row_ids_host = NULL;
  expect("empty embedding sum workspace query", bt_cuda_embedding_sum_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  check("an empty embedding sum needs no workspace", bytes == 0);
}

static void reorder_checks(void) {
  size_t bytes = 0;
  bt_cuda_reorder_cache_args a = valid_reorder();
  expect("null reorder", bt_cuda_reorder_cache_workspace_bytes(NULL, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect("reorder without bytes", bt_cuda_reorder_cache_workspace_bytes(&a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a.head_dim = -1;
  expect("negative head_dim", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_reorder(); a.source_rows_host = NULL;
  expect("reorder without source rows", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  sources[1] = 3;
  a = valid_reorder();
  expect("a source row past the batch", bt_cuda_reorder_cache(NULL, &a, w, 4096, NULL), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the source row is named", "source_rows[1] = 3 is outside [0, B = 3)");
  sources[1] = 0;
  lengths[2] = 5;
  expect("a length past the capacity", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  expect_message("the length is named", "lengths[2] = 5 is outside [0, C = 4]");
  lengths[2] = 0;
  a = valid_reorder(); a.value_cache = a.key_cache + 10;
  expect("overlapping caches", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_reorder(); a.value_cache = NULL;
  expect("reorder without a value cache", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_INVALID_ARGUMENT);
  a = valid_reorder(); a.kv_heads = 40000;
  expect("kv heads past the grid", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_UNSUPPORTED);
  a = valid_reorder();
  expect("reorder workspace query", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  /* Rows 0 and 1 swap (both saved: 4 and 2 positions of 2 heads of 2 floats, per cache); row 2 takes row 0. */
  check("the workspace holds the tables and the saved rows",
        bytes == 2 * round256(3 * sizeof(int32_t)) + round256(3 * sizeof(int64_t)) +
                     round256(2 * (2 * 4 * 2 + 2 * 2 * 2) * sizeof(float)));
  expect("reorder with a small workspace", bt_cuda_reorder_cache(NULL, &a, w, bytes - 1, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  /* Rows that keep their places move nothing: no workspace. */
  int32_t in_place[3] = {0, 1, 2};
  a = valid_reorder(); a.source_rows_host = in_place;
  expect("identity reorder workspace query", bt_cuda_reorder_cache_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  check("an identity reorder needs no workspace", bytes == 0);
}

int main(void) {
  size_t sl = 0, se = 0, sr = 0;
  bt_cuda_graph_op_struct_sizes(&sl, &se, &sr);
  check("graph op struct sizes match", sl == sizeof(bt_cuda_layer_norm_args) &&
                                           se == sizeof(bt_cuda_embedding_sum_args) &&
                                           sr == sizeof(bt_cuda_reorder_cache_args));
  layer_norm_checks();
  embedding_sum_checks();
  reorder_checks();

  bt_cuda_context* ctx = NULL;
  const int created = bt_cuda_context_create(0, &ctx);
  bt_cuda_layer_norm_args n = valid_layer_norm();
  bt_cuda_embedding_sum_args e = valid_sum();
  bt_cuda_reorder_cache_args r = valid_reorder();
  size_t sum_bytes = 0, reorder_bytes = 0;
  bt_cuda_embedding_sum_workspace_bytes(&e, &sum_bytes);
  bt_cuda_reorder_cache_workspace_bytes(&r, &reorder_bytes);
  if (created == BT_CUDA_NO_DEVICE) {
    expect("context without a device", created, BT_CUDA_NO_DEVICE);
    expect("layer norm without a device", bt_cuda_layer_norm(NULL, &n, NULL), BT_CUDA_NO_DEVICE);
    expect("embedding sum without a device", bt_cuda_embedding_sum(NULL, &e, w, sum_bytes, NULL), BT_CUDA_NO_DEVICE);
    new_lengths[0] = new_lengths[1] = new_lengths[2] = -1;
    expect("reorder without a device", bt_cuda_reorder_cache(NULL, &r, w, reorder_bytes, NULL), BT_CUDA_NO_DEVICE);
    check("no lengths written without a device", new_lengths[0] == -1 && new_lengths[1] == -1 && new_lengths[2] == -1);
    printf("no CUDA device here: checked the no-device paths\n");
  } else {
    expect("context on device 0", created, BT_CUDA_OK);
    expect("layer norm with host pointers", bt_cuda_layer_norm(ctx, &n, NULL), BT_CUDA_INVALID_ARGUMENT);
    expect("embedding sum with host pointers", bt_cuda_embedding_sum(ctx, &e, w, sum_bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    new_lengths[0] = new_lengths[1] = new_lengths[2] = -1;
    expect("reorder with host pointers", bt_cuda_reorder_cache(ctx, &r, w, reorder_bytes, NULL),
           BT_CUDA_INVALID_ARGUMENT);
    check("no lengths written when refused", new_lengths[0] == -1 && new_lengths[1] == -1 && new_lengths[2] == -1);
    bt_cuda_context_destroy(ctx);
    printf("a CUDA device is present: checked that host pointers are refused\n");
  }
  if (failures) printf("graph_ops_abi_test: %d FAILED\n", failures);
  else printf("graph_ops_abi_test: all passed\n");
  return failures ? 1 : 0;
}
