/* Checks the C ABI's argument validation and its behaviour without a GPU:
 * bad arguments give BT_CUDA_INVALID_ARGUMENT (or UNSUPPORTED) with a message,
 * never a crash; valid calls give BT_CUDA_NO_DEVICE where there is no driver or
 * device. On a GPU machine the device-dependent checks switch to asserting that
 * host pointers are refused. Run by tools/build-cuda.sh. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bt_cuda.h"

static int failures = 0;

static void expect(const char* what, int got, int want) {
  if (got != want) {
    printf("FAIL %s: got %d (%s), want %d (%s); last error: %s\n", what, got, bt_cuda_status_name(got), want,
           bt_cuda_status_name(want), bt_cuda_last_error());
    ++failures;
  } else if (got != BT_CUDA_OK && bt_cuda_last_error()[0] == '\0') {
    printf("FAIL %s: status %d without a message\n", what, got);
    ++failures;
  } else {
    printf("ok   %s%s%s\n", what, got ? ": " : "", got ? bt_cuda_last_error() : "");
  }
}

static float host_q[2 * 4 * 3 * 8], host_k[2 * 2 * 5 * 8], host_v[2 * 2 * 5 * 8], host_out[2 * 4 * 3 * 8],
    host_lse[2 * 4 * 3];

static bt_cuda_attention valid_attention(void) {
  bt_cuda_attention a;
  memset(&a, 0, sizeof a);
  a.batch = 2; a.heads = 4; a.kv_heads = 2; a.q_seq = 3; a.k_seq = 5; a.depth = 8; a.value_depth = 8;
  a.scale = 0.35f;
  a.q = host_q; a.k = host_k; a.v = host_v; a.out = host_out; a.lse = host_lse;
  return a;
}

static void check(const char* what, int condition) {
  printf("%s %s\n", condition ? "ok  " : "FAIL", what);
  if (!condition) ++failures;
}

int main(void) {
  size_t sa = 0, sg = 0, se = 0;
  bt_cuda_struct_sizes(&sa, &sg, &se);
  check("abi version", bt_cuda_abi_version() == BT_CUDA_ABI_VERSION);
  check("struct sizes match",
        sa == sizeof(bt_cuda_attention) && sg == sizeof(bt_cuda_attention_grad) && se == sizeof(bt_cuda_encoder));

  bt_cuda_attention a;
  expect("null attention", bt_cuda_attention_forward(NULL, NULL, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.kv_heads = 3;
  expect("H not a multiple of Hkv", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.depth = 0;
  expect("depth 0", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.q_seq = -1;
  expect("negative Sq", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.depth = 200;
  expect("depth above 128", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_UNSUPPORTED);
  a = valid_attention(); a.precision = 7;
  expect("bad precision", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = 3;
  expect("bad mask kind", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = BT_CUDA_MASK_BOOL;
  expect("bool mask without data", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.mask_kind = BT_CUDA_MASK_ADDITIVE; a.mask = host_q; a.mask_strides[3] = -1;
  expect("negative mask stride", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
  a = valid_attention(); a.q = NULL;
  expect("null q", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_INVALID_ARGUMENT);

  size_t bytes = 0;
  a = valid_attention();
  expect("backward workspace query", bt_cuda_attention_backward_workspace_bytes(&a, &bytes), BT_CUDA_OK);
  check("backward workspace is B*H*Sq floats", bytes == 2 * 4 * 3 * sizeof(float));
  bt_cuda_attention_grad g;
  memset(&g, 0, sizeof g);
  g.dout = host_out; g.out = host_out; g.lse = host_lse; g.dq = host_q; g.dk = host_k; g.dv = host_v;
  expect("backward without workspace", bt_cuda_attention_backward(NULL, &a, &g, NULL, 0, NULL),
         BT_CUDA_INVALID_ARGUMENT);
  g.dmask = host_q; g.dmask_elements = 4;
  expect("dmask without additive mask", bt_cuda_attention_backward(NULL, &a, &g, host_lse, bytes, NULL),
         BT_CUDA_INVALID_ARGUMENT);

  bt_cuda_encoder e;
  memset(&e, 0, sizeof e);
  e.batch = 2; e.seq = 4; e.embed = 12; e.ffn = 16; e.num_heads = 5; e.eps1 = e.eps2 = 1e-5f; e.scale = 0.5f;
  expect("E not a multiple of heads", bt_cuda_encoder_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e.num_heads = 3; e.activation = 9;
  expect("bad activation", bt_cuda_encoder_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e.activation = BT_CUDA_RELU; e.eps1 = NAN;
  expect("NaN eps", bt_cuda_encoder_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  e.eps1 = 1e-5f;
  expect("encoder without weights", bt_cuda_encoder_workspace_bytes(&e, &bytes), BT_CUDA_INVALID_ARGUMENT);
  static float w[12 * 36];
  e.x = e.y = w;
  e.qkv_weight = e.qkv_bias = e.out_weight = e.out_bias = e.ln1_gamma = e.ln1_beta = e.ln2_gamma = e.ln2_beta = w;
  e.ffn_in_weight = e.ffn_in_bias = e.ffn_out_weight = e.ffn_out_bias = w;
  size_t full = 0, padded = 0;
  expect("encoder workspace query", bt_cuda_encoder_workspace_bytes(&e, &full), BT_CUDA_OK);
  const uint8_t valid[8] = {1, 1, 0, 0, 1, 0, 0, 0};
  e.key_valid_host = valid;
  expect("padded encoder workspace query", bt_cuda_encoder_workspace_bytes(&e, &padded), BT_CUDA_OK);
  check("padding shrinks the token buffers", padded > 0 && padded < full);
  expect("encoder with a small workspace", bt_cuda_encoder_layer(NULL, &e, w, 16, NULL), BT_CUDA_INVALID_ARGUMENT);

  /* Device-dependent paths. */
  bt_cuda_context* ctx = NULL;
  const int created = bt_cuda_context_create(0, &ctx);
  a = valid_attention();
  if (created == BT_CUDA_NO_DEVICE) {
    expect("context without a device", created, BT_CUDA_NO_DEVICE);
    check("context pointer stays null", ctx == NULL);
    expect("forward without a device", bt_cuda_attention_forward(NULL, &a, NULL), BT_CUDA_NO_DEVICE);
    expect("upload without a device", bt_cuda_upload(NULL, host_q, host_k, 4), BT_CUDA_INVALID_ARGUMENT);
    expect("encoder without a device", bt_cuda_encoder_layer(NULL, &e, w, padded, NULL), BT_CUDA_NO_DEVICE);
    expect("wait without a context", bt_cuda_wait_device(NULL), BT_CUDA_INVALID_ARGUMENT);
    printf("no CUDA device here: checked the no-device paths\n");
  } else {
    expect("context on device 0", created, BT_CUDA_OK);
    expect("forward with host pointers", bt_cuda_attention_forward(ctx, &a, NULL), BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_context* missing = NULL;
    expect("context of a missing device", bt_cuda_context_create(4096, &missing), BT_CUDA_INVALID_ARGUMENT);
    bt_cuda_context_destroy(ctx);
    printf("a CUDA device is present: checked that host pointers are refused\n");
  }
  if (failures) printf("abi_validation_test: %d FAILED\n", failures);
  else printf("abi_validation_test: all passed\n");
  return failures ? 1 : 0;
}
