/* C ABI: loading, validation, diagnostics, accessors and the writers.
 * Usage: test_capi_scales EXAMPLE_JSON CHECKPOINTS_DIR TMP_DIR
 * (CHECKPOINTS_DIR is what examples/checkpoints/make_examples.py wrote.) */
#include <math.h>
#include <stdlib.h>

#include "capi_test.h"

static char g_path[4096];
static const char* join(const char* dir, const char* name) {
  snprintf(g_path, sizeof g_path, "%s/%s", dir, name);
  return g_path;
}

static void write_file(const char* path, const char* text) {
  FILE* f = fopen(path, "wb");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(text, f);
  fclose(f);
}

/* The scale make_examples.py writes for (layer, kv, head), before float/bf16 rounding. */
static double example_scale(int layer, int v, int head) {
  return (6.0 + 20.0 * (0.5 + 0.5 * sin(1.7 * layer + 0.9 * head + (v ? 0.4 : 0.0)))) / 448.0;
}

static void test_scales_file(const char* example) {
  kvscale_scales* h = NULL;
  kvscale_scales_info info;
  const float* k = NULL;
  const float* v = NULL;
  int count = 0;
  kvscale_granularity g = KVSCALE_PER_HEAD;
  kvscale_load_options o;
  kvscale_load_options_init(&o);
  CHECK(o.has_context == 0 && o.tp_size == 1 && o.tp_rank == 0 && o.num_layers == 0 && o.model_type == NULL);
  o.has_context = 1;
  o.num_layers = 32;
  o.model_type = "llama";
  CHECK_STATUS(kvscale_scales_load(example, &o, &h), KVSCALE_SUCCESS);
  CHECK(h != NULL);
  CHECK(kvscale_scales_diagnostic_count(h) == 0);
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.accepted == 1 && info.used_fallback == 0 && info.tp_size == 1 && info.num_layers == 32);
  CHECK(info.heads_per_rank == 0 && info.source == KVSCALE_SOURCE_SCALES_FILE);
  CHECK(strcmp(info.granularity, "tensor") == 0 && info.producer == NULL);
  CHECK(info.model_type != NULL && strcmp(info.model_type, "llama") == 0);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, 0, &k, &count, &g), KVSCALE_SUCCESS);
  CHECK(count == 1 && g == KVSCALE_PER_TENSOR && k[0] == 0.0152239129f);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_V, 0, 31, &v, &count, NULL), KVSCALE_SUCCESS);
  CHECK(count == 1 && v[0] > 0.0f);
  /* Outside the table, bad selectors, NULL outputs. */
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, 32, &k, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("layer 32 is outside the table (1 ranks x 32 layers)");
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 1, 0, &k, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, -1, 0, &k, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_entry(h, (kvscale_kv)2, 0, 0, &k, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, 0, NULL, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, 0, &k, NULL, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_get_info(h, NULL), KVSCALE_INVALID_ARGUMENT);
  {
    kvscale_diagnostic d;
    CHECK_STATUS(kvscale_scales_diagnostic(h, 0, &d), KVSCALE_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("index 0 is not below the count 0");
  }
  kvscale_scales_free(h);

  /* Validation without a handle. */
  {
    size_t n = 99;
    CHECK_STATUS(kvscale_validate(example, NULL, &n), KVSCALE_SUCCESS);
    CHECK(n == 0);
    CHECK_STATUS(kvscale_validate(example, NULL, NULL), KVSCALE_SUCCESS);
    o.num_layers = 40; /* the file has 32 */
    CHECK_STATUS(kvscale_validate(example, &o, &n), KVSCALE_INVALID_SCALES);
    CHECK(n == 8);
    CHECK_ERROR_MENTIONS("/kv_cache/scaling_factor/0: layer_missing:");
    CHECK_STATUS(kvscale_validate(NULL, NULL, &n), KVSCALE_INVALID_ARGUMENT);
    CHECK(n == 0);
  }
}

static void test_rejected(const char* tmp) {
  kvscale_scales* h = NULL;
  kvscale_diagnostic d;
  kvscale_scales_info info;
  kvscale_load_options o;
  const float* k = NULL;
  int count = 0;
  char bad[4096];
  snprintf(bad, sizeof bad, "%s", join(tmp, "bad.json")); /* join() reuses one buffer */
  write_file(bad,
             "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": "
             "{\"0\": {\"0\": 1.0, \"1\": -2.0, \"2\": \"x\"}}}, \"extra\": 1}");
  CHECK_STATUS(kvscale_scales_load(bad, NULL, &h), KVSCALE_INVALID_SCALES);
  CHECK_ERROR_MENTIONS("bad.json:/kv_cache/scaling_factor/0/1: scale_out_of_range:");
  CHECK(h != NULL);
  CHECK(kvscale_scales_diagnostic_count(h) == 2);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 0, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "scale_out_of_range") == 0 && strcmp(d.rule, "H5") == 0);
  CHECK(strcmp(d.pointer, "/kv_cache/scaling_factor/0/1") == 0 && strcmp(d.location, d.pointer) == 0);
  CHECK(strcmp(d.file, "") == 0 && strlen(d.message) > 0);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 1, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "scale_not_number") == 0 && strcmp(d.pointer, "/kv_cache/scaling_factor/0/2") == 0);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 2, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 0, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK(kvscale_scales_warning_count(h) == 1);
  CHECK_STATUS(kvscale_scales_warning(h, 0, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "unknown_key") == 0 && strcmp(d.pointer, "/extra") == 0);
  CHECK_STATUS(kvscale_scales_warning(h, 1, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.accepted == 0 && info.tp_size == 0 && info.num_layers == 0 && strcmp(info.granularity, "") == 0);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, 0, &k, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_write_json(h, join(tmp, "never.json"), 0, 1), KVSCALE_INVALID_SCALES);
  kvscale_scales_free(h);

  /* vLLM's unit fallback: accepted with 1.0 everywhere, the diagnostics kept. */
  kvscale_load_options_init(&o);
  o.has_context = 1;
  o.num_layers = 3;
  o.unit_fallback = 1;
  CHECK_STATUS(kvscale_scales_load(bad, &o, &h), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.accepted == 0 && info.used_fallback == 1 && info.num_layers == 3);
  CHECK(kvscale_scales_diagnostic_count(h) == 2);
  CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_V, 0, 2, &k, &count, NULL), KVSCALE_SUCCESS);
  CHECK(count == 1 && k[0] == 1.0f);
  kvscale_scales_free(h);

  /* A limit lowered below the file's size; I/O problems are diagnostics too. */
  kvscale_load_options_init(&o);
  o.max_file_bytes = 10;
  CHECK_STATUS(kvscale_scales_load(bad, &o, &h), KVSCALE_INVALID_SCALES);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 0, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "file_too_large") == 0);
  kvscale_scales_free(h);
  CHECK_STATUS(kvscale_scales_load(join(tmp, "missing.json"), NULL, &h), KVSCALE_INVALID_SCALES);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 0, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "file_not_found") == 0 && strcmp(d.rule, "IO") == 0);
  kvscale_scales_free(h);
  /* An invalid context. */
  kvscale_load_options_init(&o);
  o.has_context = 1;
  o.tp_size = 2;
  o.tp_rank = 2;
  CHECK_STATUS(kvscale_scales_load(bad, &o, &h), KVSCALE_INVALID_SCALES);
  CHECK_STATUS(kvscale_scales_diagnostic(h, 0, &d), KVSCALE_SUCCESS);
  CHECK(strcmp(d.code, "tp_rank_out_of_range") == 0);
  kvscale_scales_free(h);
}

static void test_checkpoints(const char* dir) {
  kvscale_scales* h = NULL;
  kvscale_scales_info info;
  const float* k = NULL;
  const float* v = NULL;
  int count = 0, layer, head;
  kvscale_granularity g = KVSCALE_PER_TENSOR;
  char quark[4096];
  snprintf(quark, sizeof quark, "%s", join(dir, "quark-fp8-kv"));
  CHECK_STATUS(kvscale_scales_load(quark, NULL, &h), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.source == KVSCALE_SOURCE_CHECKPOINT && info.num_layers == 32 && info.num_kv_heads == 8);
  CHECK(info.producer != NULL && strcmp(info.producer, "quark") == 0 && strcmp(info.granularity, "tensor") == 0);
  for (layer = 0; layer < 32; ++layer) {
    CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, layer, &k, &count, &g), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_V, 0, layer, &v, &count, &g), KVSCALE_SUCCESS);
    CHECK(count == 1 && g == KVSCALE_PER_TENSOR && k[0] == v[0]);
    CHECK(fabs(k[0] - example_scale(layer, 0, 0)) <= 1e-7 * example_scale(layer, 0, 0));
  }
  kvscale_scales_free(h);

  CHECK_STATUS(kvscale_scales_load(join(dir, "llmc-attn-head"), NULL, &h), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
  CHECK(info.num_layers == 4 && info.heads_per_rank == 8 && strcmp(info.granularity, "head") == 0);
  CHECK(info.producer != NULL && strcmp(info.producer, "compressed-tensors") == 0);
  for (layer = 0; layer < 4; ++layer) {
    CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_V, 0, layer, &v, &count, &g), KVSCALE_SUCCESS);
    CHECK(count == 8 && g == KVSCALE_PER_HEAD);
    for (head = 0; head < count; ++head) /* BF16: 8 significant bits */
      CHECK(fabs(v[head] - example_scale(layer, 1, head)) <= example_scale(layer, 1, head) / 256.0);
  }
  kvscale_scales_free(h);

  /* A TP context splits the 8 heads: rank 1 of 2 holds heads 4..7. */
  {
    kvscale_load_options o;
    kvscale_load_options_init(&o);
    o.has_context = 1;
    o.tp_size = 2;
    o.tp_rank = 1;
    CHECK_STATUS(kvscale_scales_load(join(dir, "llmc-attn-head"), &o, &h), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_scales_get_info(h, &info), KVSCALE_SUCCESS);
    CHECK(info.tp_size == 2 && info.heads_per_rank == 4);
    CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 1, 3, &k, &count, &g), KVSCALE_SUCCESS);
    CHECK(count == 4 && fabs(k[0] - example_scale(3, 0, 4)) <= example_scale(3, 0, 4) / 256.0);
    kvscale_scales_free(h);
  }
}

static void test_writers(const char* dir, const char* tmp) {
  kvscale_scales* h = NULL;
  kvscale_scales* back = NULL;
  kvscale_scales_info info;
  const float* a = NULL;
  const float* b = NULL;
  int count = 0, layer;
  char json[4096], st[4096];
  snprintf(json, sizeof json, "%s", join(tmp, "out.json"));
  snprintf(st, sizeof st, "%s", join(tmp, "out.safetensors"));
  remove(json);
  remove(st);
  CHECK_STATUS(kvscale_scales_load(join(dir, "llmc-attn-head"), NULL, &h), KVSCALE_SUCCESS);
  /* Per-head scales do not fit kv_cache_scales.json without merging. */
  CHECK_STATUS(kvscale_scales_write_json(h, json, 0, 0), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_write_json(h, json, 1, 0), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_write_json(h, json, 1, 0), KVSCALE_INVALID_ARGUMENT); /* exists, no force */
  CHECK_STATUS(kvscale_scales_write_json(h, json, 1, 1), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_write_safetensors(h, st, 0, 0), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_load(st, NULL, &back), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_get_info(back, &info), KVSCALE_SUCCESS);
  CHECK(info.source == KVSCALE_SOURCE_SAFETENSORS && info.num_layers == 4 && info.heads_per_rank == 8);
  for (layer = 0; layer < 4; ++layer) { /* bit-exact round trip */
    CHECK_STATUS(kvscale_scales_entry(h, KVSCALE_K, 0, layer, &a, &count, NULL), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_scales_entry(back, KVSCALE_K, 0, layer, &b, &count, NULL), KVSCALE_SUCCESS);
    CHECK(count == 8 && memcmp(a, b, 8 * sizeof(float)) == 0);
  }
  kvscale_scales_free(back);
  CHECK_STATUS(kvscale_scales_load(json, NULL, &back), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_scales_get_info(back, &info), KVSCALE_SUCCESS);
  CHECK(info.num_layers == 4 && strcmp(info.granularity, "tensor") == 0);
  kvscale_scales_free(back);
  CHECK_STATUS(kvscale_scales_write_json(NULL, json, 0, 1), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_write_safetensors(h, NULL, 0, 1), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_write_safetensors(h, join(tmp, "no/such/dir/x.safetensors"), 0, 1),
               KVSCALE_INVALID_ARGUMENT);
  kvscale_scales_free(h);
}

static void test_null_handles(void) {
  kvscale_diagnostic d;
  kvscale_scales_info info;
  const float* p = NULL;
  int count = 0;
  CHECK_STATUS(kvscale_scales_load("x.json", NULL, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK(kvscale_scales_diagnostic_count(NULL) == 0 && kvscale_scales_warning_count(NULL) == 0);
  CHECK_STATUS(kvscale_scales_diagnostic(NULL, 0, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("kvscale_scales_diagnostic: scales is NULL");
  CHECK_STATUS(kvscale_scales_warning(NULL, 0, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_get_info(NULL, &info), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_scales_entry(NULL, KVSCALE_K, 0, 0, &p, &count, NULL), KVSCALE_INVALID_ARGUMENT);
  kvscale_scales_free(NULL);
  kvscale_load_options_init(NULL);
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s EXAMPLE_JSON CHECKPOINTS_DIR TMP_DIR\n", argv[0]);
    return 2;
  }
  test_scales_file(argv[1]);
  test_rejected(argv[3]);
  test_checkpoints(argv[2]);
  test_writers(argv[2], argv[3]);
  test_null_handles();
  return TEST_RESULT();
}
