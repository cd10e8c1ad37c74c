/* The C ABI from plain C, as an installed package's user sees it. It loads a scales file for TP
 * rank 0, prints layer 0's scale, and then calls every entry point of kvscale/kvscale.h once (the
 * packaging test links it against the installed library, so a missing export fails the build):
 * the scale-set accessors and writers, a CPU round trip through quantize/dequantize, a paged write
 * and read of one token in an NHD cache, observe_amax, and the GPU entry points, which without a
 * GPU must answer NO_DEVICE or UNSUPPORTED. Usage: kvscale_c_consumer FILE NUM_LAYERS */
#include <kvscale/kvscale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failed(const char* what, kvscale_status s) {
  fprintf(stderr, "%s: %s: %s\n", what, kvscale_status_name(s), kvscale_last_error());
  return 1;
}

/* A GPU call either works (a GPU build on a machine with a device) or says why not. */
static int gpu_ok(kvscale_status s) {
  return s == KVSCALE_SUCCESS || s == KVSCALE_NO_DEVICE || s == KVSCALE_UNSUPPORTED;
}

/* Accessors, validation and both writers (into the working directory, removed afterwards). */
static int scale_set_calls(const char* path, const kvscale_load_options* options, const kvscale_scales* scales) {
  kvscale_scales_info info;
  kvscale_diagnostic d;
  size_t n = 99;
  kvscale_status s = kvscale_scales_get_info(scales, &info);
  if (s != KVSCALE_SUCCESS || !info.accepted || info.num_layers != options->num_layers) return failed("get_info", s);
  if ((s = kvscale_validate(path, options, &n)) != KVSCALE_SUCCESS || n != 0) return failed("validate", s);
  if (kvscale_scales_diagnostic_count(scales) != 0 || kvscale_scales_diagnostic(scales, 0, &d) == KVSCALE_SUCCESS)
    return failed("diagnostic (none expected)", KVSCALE_INTERNAL_ERROR);
  if (kvscale_scales_warning_count(scales) != 0 || kvscale_scales_warning(scales, 0, &d) == KVSCALE_SUCCESS)
    return failed("warning (none expected)", KVSCALE_INTERNAL_ERROR);
  if ((s = kvscale_scales_write_json(scales, "kvscale_c_consumer.json", 0, 1)) != KVSCALE_SUCCESS)
    return failed("write_json", s);
  if ((s = kvscale_scales_write_safetensors(scales, "kvscale_c_consumer.safetensors", 0, 1)) != KVSCALE_SUCCESS)
    return failed("write_safetensors", s);
  remove("kvscale_c_consumer.json");
  remove("kvscale_c_consumer.safetensors");
  return 0;
}

/* One token of 1 head x 16 f32 through an NHD cache of 1 block x 1 slot, then amax of the row. */
static int cpu_op_calls(const float* scale) {
  float row[16], deq[16], back_k[16], back_v[16], amax[4] = {0.0f, 0.0f, 0.0f, 0.0f}; /* [K, V, K head 0, V head 0] */
  uint8_t codes[16], k_cache[16], v_cache[16];
  const int64_t slot = 0;
  kvscale_paged_args a;
  kvscale_status s;
  int i;
  for (i = 0; i < 16; ++i) row[i] = (float)(i - 8) * 0.25f;
  kvscale_cpu_set_num_threads(1);
  if ((s = kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, row, codes, 16, scale, NULL)) ||
      (s = kvscale_dequantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, codes, deq, 16, scale, NULL)))
    return failed("quantize/dequantize", s);
  memset(&a, 0, sizeof a);
  a.format = KVSCALE_E4M3FN;
  a.dtype = KVSCALE_F32;
  a.rows.num_tokens = 1;
  a.rows.num_kv_heads = 1;
  a.rows.head_size = 16;
  a.rows.key_row_stride = 16; /* elements between tokens' rows */
  a.rows.value_row_stride = 16;
  a.key = row;
  a.value = row;
  a.slot_mapping = &slot;
  a.cache.layout = KVSCALE_LAYOUT_NHD;
  a.cache.num_blocks = 1;
  a.cache.block_size = 1;
  a.cache.num_kv_heads = 1;
  a.cache.head_size = 16;
  a.key_cache = k_cache;
  a.value_cache = v_cache;
  a.k_scale = scale;
  a.v_scale = scale;
  if ((s = kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL)) != KVSCALE_SUCCESS) return failed("paged_write", s);
  if (memcmp(k_cache, codes, 16) != 0 || memcmp(v_cache, codes, 16) != 0)
    return failed("paged_write (cache bytes differ from quantize)", KVSCALE_INTERNAL_ERROR);
  a.key = back_k; /* read K and V back: both must equal dequantize's values */
  a.value = back_v;
  if ((s = kvscale_paged_read(KVSCALE_BACKEND_CPU, &a, NULL)) != KVSCALE_SUCCESS) return failed("paged_read", s);
  if (memcmp(back_k, deq, sizeof deq) != 0 || memcmp(back_v, deq, sizeof deq) != 0)
    return failed("paged_read (values differ from dequantize)", KVSCALE_INTERNAL_ERROR);
  if ((s = kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, &a.rows, row, row, &slot, amax, NULL)))
    return failed("observe_amax", s);
  if (amax[0] != 2.0f || amax[1] != 2.0f || amax[2] != 2.0f || amax[3] != 2.0f)
    return failed("observe_amax (expected 2 everywhere)", KVSCALE_INTERNAL_ERROR);
  {
    /* The calibrated scale set: one rank, one layer, one head; scale = amax / 448. */
    kvscale_scales* cal = NULL;
    const float* k = NULL;
    int n = 0, floored = -1;
    if ((s = kvscale_scales_from_amax(amax, 1, 1, 1, KVSCALE_PER_TENSOR, NULL, &cal, &floored)) != KVSCALE_SUCCESS)
      return failed("scales_from_amax", s);
    s = kvscale_scales_entry(cal, KVSCALE_K, 0, 0, &k, &n, NULL);
    const int ok = s == KVSCALE_SUCCESS && n == 1 && k[0] == 2.0f / 448.0f && floored == 0;
    kvscale_scales_free(cal);
    if (!ok) return failed("scales_from_amax (expected 2 / 448)", s == KVSCALE_SUCCESS ? KVSCALE_INTERNAL_ERROR : s);
  }
  return 0;
}

/* The GPU entry points: without a device every one must refuse cleanly. */
static int gpu_calls(const kvscale_scales* scales) {
  int count = -1, slots = 0;
  kvscale_format native;
  kvscale_device_scales* ds = NULL;
  const float *k = NULL, *v = NULL;
  int ks = 0, vs = 0;
  kvscale_status s;
  printf("GPU backend: %s\n", kvscale_gpu_backend());
  if (!gpu_ok(s = kvscale_gpu_device_count(&count))) return failed("gpu_device_count", s);
  if (count <= 0) {
    if (!gpu_ok(kvscale_gpu_native_format(0, &native)) || !gpu_ok(kvscale_gpu_set_device(0)) ||
        !gpu_ok(kvscale_gpu_synchronize(NULL)))
      return failed("GPU calls without a device", KVSCALE_INTERNAL_ERROR);
    s = kvscale_device_scales_create(0, scales, 0, 0, 1, KVSCALE_E4M3FN, 1, NULL, &ds);
    if (!gpu_ok(s) || s == KVSCALE_SUCCESS) return failed("device_scales_create without a device", s);
    if (kvscale_device_scales_update(ds, scales, NULL) != KVSCALE_INVALID_ARGUMENT ||
        kvscale_device_scales_layer(ds, 0, &k, &v, &ks, &vs) != KVSCALE_INVALID_ARGUMENT ||
        kvscale_device_scales_head_slots(ds) != 0)
      return failed("device scales: a null handle must be refused", KVSCALE_INTERNAL_ERROR);
    kvscale_device_scales_free(ds);
    return 0;
  }
  if ((s = kvscale_gpu_native_format(0, &native)) || (s = kvscale_gpu_set_device(0)) ||
      (s = kvscale_device_scales_create(0, scales, 0, 0, 1, native, 1, NULL, &ds)) ||
      (s = kvscale_device_scales_update(ds, scales, NULL)) ||
      (s = kvscale_device_scales_layer(ds, 0, &k, &v, &ks, &vs)) || (s = kvscale_gpu_synchronize(NULL)))
    return failed("GPU calls", s);
  slots = kvscale_device_scales_head_slots(ds);
  kvscale_device_scales_free(ds);
  return slots >= 1 ? 0 : failed("device_scales_head_slots", KVSCALE_INTERNAL_ERROR);
}

int main(int argc, char** argv) {
  kvscale_load_options options;
  kvscale_scales* scales = NULL;
  const float* k = NULL;
  int count = 0, rc;
  kvscale_granularity g;
  size_t i;
  const float in[4] = {0.0f, 1.0f, -2.5f, 1e9f};
  uint8_t out[4];
  if (argc != 3) {
    fprintf(stderr, "usage: %s FILE NUM_LAYERS\n", argv[0]);
    return 2;
  }
  if (kvscale_abi_version() != KVSCALE_ABI_VERSION) {
    fprintf(stderr, "C ABI %u, header %d\n", (unsigned)kvscale_abi_version(), KVSCALE_ABI_VERSION);
    return 1;
  }
  kvscale_load_options_init(&options);
  options.has_context = 1;
  options.num_layers = atoi(argv[2]);
  if (kvscale_scales_load(argv[1], &options, &scales) != KVSCALE_SUCCESS) {
    kvscale_diagnostic d;
    for (i = 0; i < kvscale_scales_diagnostic_count(scales); ++i)
      if (kvscale_scales_diagnostic(scales, i, &d) == KVSCALE_SUCCESS)
        fprintf(stderr, "%s: %s: %s\n", d.location, d.code, d.message);
    fprintf(stderr, "%s\n", kvscale_last_error());
    kvscale_scales_free(scales);
    return 1;
  }
  if (kvscale_scales_entry(scales, KVSCALE_K, 0, 0, &k, &count, &g) != KVSCALE_SUCCESS ||
      kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, in, out, 4, k, NULL) != KVSCALE_SUCCESS) {
    fprintf(stderr, "%s\n", kvscale_last_error());
    kvscale_scales_free(scales);
    return 1;
  }
  printf("kvscale %s (C ABI %u): layer 0 scale %.9g, codes %02x %02x %02x %02x\n", kvscale_version(),
         (unsigned)kvscale_abi_version(), (double)k[0], out[0], out[1], out[2], out[3]);
  rc = out[3] == 0x7E ? 0 : 1; /* 1e9 saturates to +448 */
  if (rc == 0) rc = scale_set_calls(argv[1], &options, scales);
  if (rc == 0) rc = cpu_op_calls(k);
  if (rc == 0) rc = gpu_calls(scales);
  kvscale_scales_free(scales);
  if (rc == 0) printf("every C entry point answered as expected\n");
  return rc;
}
