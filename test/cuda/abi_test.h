/* The assertions of the C ABI tests (abi_validation_test.c, graph_ops_abi_test.c): each prints
 * "ok" or "FAIL" with what it checked; `failures` counts the failures. Header-only, one test
 * program per translation unit. */
#ifndef TFJS_BT_TEST_CUDA_ABI_TEST_H_
#define TFJS_BT_TEST_CUDA_ABI_TEST_H_

#include <stdio.h>
#include <string.h>

#include "bt_cuda.h"

static int failures = 0;

/* The call returned `want`; a failure status must come with a message. */
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

/* The message of the last failure starts with `prefix`. */
static void expect_message(const char* what, const char* prefix) {
  const char* message = bt_cuda_last_error();
  if (strncmp(message, prefix, strlen(prefix)) != 0) {
    printf("FAIL %s: message \"%s\" does not start with \"%s\"\n", what, message, prefix);
    ++failures;
  } else {
    printf("ok   %s\n", what);
  }
}

static void check(const char* what, int condition) {
  printf("%s %s\n", condition ? "ok  " : "FAIL", what);
  if (!condition) ++failures;
}

#endif /* TFJS_BT_TEST_CUDA_ABI_TEST_H_ */
