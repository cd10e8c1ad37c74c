/* Minimal check macros for the C ABI tests (plain C99: these files are compiled as C). */
#ifndef KVSCALE_CAPI_TEST_H
#define KVSCALE_CAPI_TEST_H

#include <stdio.h>
#include <string.h>

#include "kvscale/kvscale.h"

static int g_failures = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failures;                                                            \
    }                                                                          \
  } while (0)

/* A call's status, and for failures that the last error is set and mentions `needle`. */
#define CHECK_STATUS(call, expected)                                                                                   \
  do {                                                                                                                 \
    kvscale_status s_ = (call);                                                                                        \
    if (s_ != (expected)) {                                                                                            \
      fprintf(stderr, "%s:%d: %s returned %s, expected %s (%s)\n", __FILE__, __LINE__, #call, kvscale_status_name(s_), \
              kvscale_status_name(expected), kvscale_last_error());                                                    \
      ++g_failures;                                                                                                    \
    } else if (s_ != KVSCALE_SUCCESS && kvscale_last_error()[0] == '\0') {                                             \
      fprintf(stderr, "%s:%d: %s failed without a last error\n", __FILE__, __LINE__, #call);                           \
      ++g_failures;                                                                                                    \
    }                                                                                                                  \
  } while (0)

#define CHECK_ERROR_MENTIONS(needle)                                                                              \
  do {                                                                                                            \
    if (strstr(kvscale_last_error(), (needle)) == NULL) {                                                         \
      fprintf(stderr, "%s:%d: last error '%s' lacks '%s'\n", __FILE__, __LINE__, kvscale_last_error(), (needle)); \
      ++g_failures;                                                                                               \
    }                                                                                                             \
  } while (0)

#define TEST_RESULT() \
  (g_failures == 0 ? (printf("all checks passed\n"), 0) : (fprintf(stderr, "%d check(s) failed\n", g_failures), 1))

#endif
