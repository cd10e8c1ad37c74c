/* C ABI: kvscale_scales_from_amax, and its scale sets through the accessors and the writers.
 * Usage: test_capi_calibration TMP_DIR */
#include <float.h>
#include <math.h>
#include <stdlib.h>

#include "capi_test.h"

enum { TP = 2, LAYERS = 3, H = 2, BLOCK = 2 + 2 * H };

static char g_path[4096];
static const char* join(const char* dir, const char* name) {
  snprintf(g_path, sizeof g_path, "%s/%s", dir, name);
  return g_path;
}

/* amax of (rank, layer, slot), slot as observe_amax lays a block out: [K, V, K_head..., V_head...].
 * Block (1, 2) saw only zeros; K of (0, 1) is one subnormal amax (below 448 * FLT_MIN). */
static float amax_value(int rank, int layer, int slot) {
  if (rank == 1 && layer == 2) return 0.0f;
  if (rank == 0 && layer == 1 && (slot == 0 || slot == 2 || slot == 3)) return 1e-40f;
  return 0.37f * (float)(1 + rank) + 1.9f * (float)layer + 0.11f * (float)(slot * slot) + 0.013f;
}

static void fill(float* amax) {
  for (int r = 0; r < TP; ++r)
    for (int l = 0; l < LAYERS; ++l)
      for (int i = 0; i < BLOCK; ++i) amax[(r * LAYERS + l) * BLOCK + i] = amax_value(r, l, i);
}

/* The reference: one float division by 448, FLT_MIN below it. */
static float expected(float amax) {
  const float s = amax / 448.0f;
  return s < FLT_MIN ? FLT_MIN : s;
}

static void test_per_tensor(const char* tmp) {
  float amax[TP * LAYERS * BLOCK];
  kvscale_scales* h = NULL;
  kvscale_scales_info info;
  int floored = -1;
  fill(amax);
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_TENSOR, "llama", &h, &floored),
               KVSCALE_SUCCESS);
  if (h == NULL) return;
  CHECK(floored == 3); /* (1, 2) K and V, (0, 1) K */
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.accepted == 1 && info.used_fallback == 0 && info.tp_size == TP && info.num_layers == LAYERS);
  CHECK(info.source == KVSCALE_SOURCE_CALIBRATION && info.heads_per_rank == 0);
  CHECK(strcmp(info.granularity, "tensor") == 0 && strcmp(info.model_type, "llama") == 0);
  CHECK(kvscale_scales_diagnostic_count(h) == 0 && kvscale_scales_warning_count(h) == 0);
  for (int r = 0; r < TP; ++r)
    for (int l = 0; l < LAYERS; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const float* p = NULL;
        int count = 0;
        kvscale_granularity g = KVSCALE_PER_HEAD;
        CHECK_STATUS(kvscale_scales_entry(h, kv ? KVSCALE_V : KVSCALE_K, r, l, &p, &count, &g), KVSCALE_SUCCESS);
        CHECK(count == 1 && g == KVSCALE_PER_TENSOR && p != NULL);
        if (p != NULL) CHECK(p[0] == expected(amax_value(r, l, kv)));
      }
  /* K != V: the JSON format needs the max merge. */
  CHECK_STATUS(kvscale_scales_write_json(h, join(tmp, "calibrated.json"), 0, 1), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_write_json(h, join(tmp, "calibrated.json"), 1, 1), KVSCALE_SUCCESS);
  {
    kvscale_scales* back = NULL;
    kvscale_load_options o;
    kvscale_load_options_init(&o);
    o.has_context = 1;
    o.tp_size = TP;
    o.tp_rank = 1;
    o.num_layers = LAYERS;
    o.model_type = "llama";
    CHECK_STATUS(kvscale_scales_load(join(tmp, "calibrated.json"), &o, &back), KVSCALE_SUCCESS);
    for (int l = 0; back != NULL && l < LAYERS; ++l) {
      const float* k = NULL;
      const float* v = NULL;
      int n = 0;
      const float want = fmaxf(expected(amax_value(1, l, 0)), expected(amax_value(1, l, 1)));
      CHECK_STATUS(kvscale_scales_entry(back, KVSCALE_K, 1, l, &k, &n, NULL), KVSCALE_SUCCESS);
      CHECK_STATUS(kvscale_scales_entry(back, KVSCALE_V, 1, l, &v, &n, NULL), KVSCALE_SUCCESS);
      if (k != NULL && v != NULL) CHECK(k[0] == want && v[0] == want);
    }
    kvscale_scales_free(back);
  }
  kvscale_scales_free(h);
}

static void test_per_head(const char* tmp) {
  float amax[TP * LAYERS * BLOCK];
  kvscale_scales* h = NULL;
  kvscale_scales_info info;
  fill(amax);
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_HEAD, NULL, &h, NULL), KVSCALE_SUCCESS);
  if (h == NULL) return;
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.heads_per_rank == H && strcmp(info.granularity, "head") == 0 && info.model_type == NULL);
  for (int r = 0; r < TP; ++r)
    for (int l = 0; l < LAYERS; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const float* p = NULL;
        int count = 0;
        CHECK_STATUS(kvscale_scales_entry(h, kv ? KVSCALE_V : KVSCALE_K, r, l, &p, &count, NULL), KVSCALE_SUCCESS);
        CHECK(count == H);
        for (int i = 0; p != NULL && i < count && i < H; ++i) CHECK(p[i] == expected(amax_value(r, l, 2 + kv * H + i)));
      }
  /* A .safetensors holds one rank: per-head scales of two ranks are refused, nothing written. */
  CHECK_STATUS(kvscale_scales_write_safetensors(h, join(tmp, "calibrated2.safetensors"), 1, 1),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("the ranks hold different KV heads");
  {
    FILE* f = fopen(join(tmp, "calibrated2.safetensors"), "rb");
    CHECK(f == NULL);
    if (f != NULL) fclose(f);
  }
  kvscale_scales_free(h);
  h = NULL;
  /* One rank (the first LAYERS blocks): per-head K and V load back bit for bit. */
  CHECK_STATUS(kvscale_scales_from_amax(amax, 1, LAYERS, H, KVSCALE_PER_HEAD, NULL, &h, NULL), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_write_safetensors(h, join(tmp, "calibrated.safetensors"), 0, 1), KVSCALE_SUCCESS);
  {
    kvscale_scales* back = NULL;
    kvscale_load_options o;
    kvscale_load_options_init(&o);
    CHECK_STATUS(kvscale_scales_load(join(tmp, "calibrated.safetensors"), &o, &back), KVSCALE_SUCCESS);
    for (int l = 0; back != NULL && l < LAYERS; ++l)
      for (int kv = 0; kv < 2; ++kv) {
        const float* p = NULL;
        int n = 0;
        CHECK_STATUS(kvscale_scales_entry(back, kv ? KVSCALE_V : KVSCALE_K, 0, l, &p, &n, NULL), KVSCALE_SUCCESS);
        CHECK(n == H);
        for (int i = 0; p != NULL && i < n && i < H; ++i) CHECK(p[i] == expected(amax_value(0, l, 2 + kv * H + i)));
      }
    kvscale_scales_free(back);
  }
  kvscale_scales_free(h);
}

static void test_errors(void) {
  float amax[TP * LAYERS * BLOCK];
  kvscale_scales* h = (kvscale_scales*)&h; /* must be reset to NULL on failure */
  int floored = -1;
  fill(amax);
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_TENSOR, NULL, NULL, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("kvscale_scales_from_amax: out is NULL");
  CHECK_STATUS(kvscale_scales_from_amax(NULL, TP, LAYERS, H, KVSCALE_PER_TENSOR, NULL, &h, &floored),
               KVSCALE_INVALID_ARGUMENT);
  CHECK(h == NULL && floored == 0);
  CHECK_ERROR_MENTIONS("amax is null");
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, 0, H, KVSCALE_PER_TENSOR, NULL, &h, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("must be > 0");
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, (kvscale_granularity)7, NULL, &h, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("granularity must be KVSCALE_PER_TENSOR or KVSCALE_PER_HEAD, got 7");
  amax[(1 * LAYERS + 1) * BLOCK + 2 + H + 1] = NAN; /* rank 1, layer 1, V head 1 */
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_HEAD, NULL, &h, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("rank 1 layer 1 V head 1 amax is NaN");
  CHECK(h == NULL);
  /* Per tensor only reads K and V of each block: the NaN in a head slot is not looked at. */
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_TENSOR, NULL, &h, NULL), KVSCALE_SUCCESS);
  kvscale_scales_free(h);
  h = NULL;
  amax[0] = INFINITY;
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_TENSOR, NULL, &h, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("rank 0 layer 0 K amax is inf");
  amax[0] = -1.0f;
  CHECK_STATUS(kvscale_scales_from_amax(amax, TP, LAYERS, H, KVSCALE_PER_TENSOR, NULL, &h, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("amax is negative");
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s TMP_DIR\n", argv[0]);
    return 2;
  }
  test_per_tensor(argv[1]);
  test_per_head(argv[1]);
  test_errors();
  return TEST_RESULT();
}
