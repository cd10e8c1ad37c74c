/* C ABI: quantize / dequantize / paged write / paged read / observe_amax on raw pointers, checked
 * against a brute-force FP8 reference written here (nearest value of the 256 codes, ties to even),
 * independent of fp8.hpp. The GPU backend is exercised on its error and size-0 paths (device
 * memory cannot be made from plain C; tests/python runs the GPU ops through torch). */
#include <math.h>
#include <stdlib.h>

#include "capi_test.h"

/* ---- reference codec ---- */
static int bias_of(kvscale_format f) { return f == KVSCALE_E4M3FN ? 7 : 8; }
static int is_nan(kvscale_format f, int c) { return f == KVSCALE_E4M3FN ? (c & 0x7F) == 0x7F : c == 0x80; }
static int max_code(kvscale_format f) { return f == KVSCALE_E4M3FN ? 0x7E : 0x7F; }

static double ref_decode(kvscale_format f, int c) {
  int e = (c >> 3) & 0xF, m = c & 7;
  double mag = e ? ldexp(1.0 + m / 8.0, e - bias_of(f)) : ldexp(m / 8.0, 1 - bias_of(f));
  if (is_nan(f, c)) return NAN;
  return (c & 0x80) ? -mag : mag;
}

static int ref_encode(kvscale_format f, float y) {
  int best = 0, c;
  double a;
  if (isnan(y)) return f == KVSCALE_E4M3FN ? 0x7F : 0x80;
  a = fabs((double)y);
  if (a >= ref_decode(f, max_code(f)))
    best = max_code(f); /* saturate (also inf) */
  else
    for (c = 1; c <= max_code(f); ++c) { /* magnitudes increase with the code */
      double dc = fabs(ref_decode(f, c) - a), db = fabs(ref_decode(f, best) - a);
      if (dc < db || (dc == db && (c & 1) == 0)) best = c;
    }
  if (signbit(y) && !(f == KVSCALE_E4M3FNUZ && best == 0)) best |= 0x80;
  return best;
}

static int ref_quantize(kvscale_format f, float x, float scale) { return ref_encode(f, x / scale); }

static void test_contiguous(void) {
  static float in[1024], back[1024];
  static uint8_t codes[1024], out[1024];
  const kvscale_format formats[2] = {KVSCALE_E4M3FN, KVSCALE_E4M3FNUZ};
  const float scales[3] = {1.0f, 0.5f, 0.0152239129f};
  int fi, si, c;
  for (fi = 0; fi < 2; ++fi) {
    kvscale_format f = formats[fi];
    for (si = 0; si < 3; ++si) {
      float s = scales[si];
      size_t n = 0, i;
      /* Every code's value, the midpoints between neighbours (ties), and values past the max. */
      for (c = 0; c < 256; ++c) {
        if (is_nan(f, c)) continue;
        in[n++] = (float)ref_decode(f, c) * s;
        if ((c & 0x7F) < max_code(f)) in[n++] = (float)((ref_decode(f, c) + ref_decode(f, c + 1)) / 2) * s;
      }
      in[n++] = 1e30f;
      in[n++] = -1e30f;
      in[n++] = INFINITY;
      in[n++] = NAN;
      in[n++] = -0.0f;
      CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, f, KVSCALE_F32, in, out, n, &s, NULL), KVSCALE_SUCCESS);
      for (i = 0; i < n; ++i)
        if (out[i] != ref_quantize(f, in[i], s)) {
          fprintf(stderr, "quantize fmt %d scale %g: %.9g -> %02x, reference %02x\n", (int)f, s, in[i], out[i],
                  ref_quantize(f, in[i], s));
          ++g_failures;
        }
      /* Dequantize: all 256 codes. */
      for (c = 0; c < 256; ++c) codes[c] = (uint8_t)c;
      CHECK_STATUS(kvscale_dequantize(KVSCALE_BACKEND_CPU, f, KVSCALE_F32, codes, back, 256, &s, NULL),
                   KVSCALE_SUCCESS);
      for (c = 0; c < 256; ++c) {
        float want = (float)ref_decode(f, c) * s;
        if (is_nan(f, c) ? !isnan(back[c]) : memcmp(&want, &back[c], sizeof want) != 0) {
          fprintf(stderr, "dequantize fmt %d scale %g: %02x -> %.9g, reference %.9g\n", (int)f, s, c, back[c], want);
          ++g_failures;
        }
      }
    }
  }
  {
    /* f16 and bf16 inputs and outputs: 1.0, -2.5, 448 (fn codes 38, c2, 7e). */
    const uint16_t f16[3] = {0x3C00, 0xC100, 0x5F00}, bf16[3] = {0x3F80, 0xC020, 0x43E0};
    uint16_t o16[3];
    float one = 1.0f;
    CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F16, f16, out, 3, &one, NULL),
                 KVSCALE_SUCCESS);
    CHECK(out[0] == 0x38 && out[1] == 0xC2 && out[2] == 0x7E);
    CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_BF16, bf16, out, 3, &one, NULL),
                 KVSCALE_SUCCESS);
    CHECK(out[0] == 0x38 && out[1] == 0xC2 && out[2] == 0x7E);
    CHECK_STATUS(kvscale_dequantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_BF16, out, o16, 3, &one, NULL),
                 KVSCALE_SUCCESS);
    CHECK(memcmp(o16, bf16, sizeof o16) == 0);
    CHECK_STATUS(kvscale_dequantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F16, out, o16, 3, &one, NULL),
                 KVSCALE_SUCCESS);
    CHECK(memcmp(o16, f16, sizeof o16) == 0);
  }
}

static void test_contiguous_errors(void) {
  float x = 1.0f, s = 1.0f;
  uint8_t q = 0;
  int count = 0;
  /* Size 0 is a no-op, even with NULL pointers, on both backends where the backend exists. */
  CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, NULL, NULL, 0, NULL, NULL),
               KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_dequantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, NULL, NULL, 0, NULL, NULL),
               KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, NULL, &q, 1, &s, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, &x, &q, 1, NULL, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_dequantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, &q, NULL, 1, &s, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, (kvscale_format)2, KVSCALE_F32, &x, &q, 1, &s, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("unknown format 2");
  CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, (kvscale_dtype)3, &x, &q, 1, &s, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("unknown dtype 3");
  CHECK_STATUS(kvscale_dequantize((kvscale_backend)5, KVSCALE_E4M3FN, KVSCALE_F32, &q, &x, 1, &s, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("unknown backend 5");
  /* Misaligned f32 input. */
  {
    float buf[3] = {1, 2, 3};
    uint8_t b[4];
    CHECK_STATUS(
        kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, (const char*)buf + 1, b, 2, &s, NULL),
        KVSCALE_INVALID_ARGUMENT);
  }
  /* The GPU backend: without a device (or without a GPU build) a call fails cleanly. */
  kvscale_gpu_device_count(&count);
  if (count == 0) {
    kvscale_status st = kvscale_quantize(KVSCALE_BACKEND_GPU, KVSCALE_E4M3FN, KVSCALE_F32, &x, &q, 1, &s, NULL);
    CHECK(st == KVSCALE_UNSUPPORTED || st == KVSCALE_NO_DEVICE || st == KVSCALE_DEVICE_ERROR);
    CHECK(kvscale_last_error()[0] != '\0');
  } else {
    CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_GPU, KVSCALE_E4M3FN, KVSCALE_F32, NULL, NULL, 0, NULL, NULL),
                 KVSCALE_SUCCESS);
  }
}

/* ---- paged ---- */
enum { T = 5, H = 2, D = 32, BS = 4, NB = 3 };

static kvscale_paged_args paged_args(kvscale_cache_layout layout, float* key, float* value, const int64_t* slots,
                                     uint8_t* kc, uint8_t* vc, const float* ks, const float* vs) {
  kvscale_paged_args a;
  memset(&a, 0, sizeof a);
  a.format = KVSCALE_E4M3FN;
  a.dtype = KVSCALE_F32;
  a.rows.num_tokens = T;
  a.rows.num_kv_heads = H;
  a.rows.head_size = D;
  a.rows.key_row_stride = H * D;
  a.rows.value_row_stride = H * D;
  a.key = key;
  a.value = value;
  a.slot_mapping = slots;
  a.cache.layout = layout;
  a.cache.num_blocks = NB;
  a.cache.block_size = BS;
  a.cache.num_kv_heads = H;
  a.cache.head_size = D;
  a.key_cache = kc;
  a.value_cache = vc;
  a.k_scale = ks;
  a.v_scale = vs;
  a.k_scale_stride = 1; /* per head */
  a.v_scale_stride = 0; /* per tensor */
  return a;
}

/* Byte offsets from the layouts as kvscale.h documents them (vLLM's shapes). */
static int64_t key_off(kvscale_cache_layout l, int64_t slot, int h, int e) {
  int64_t b = slot / BS, o = slot % BS;
  if (l == KVSCALE_LAYOUT_SPLIT) return (((b * H + h) * (D / 16) + e / 16) * BS + o) * 16 + e % 16;
  if (l == KVSCALE_LAYOUT_HND) return ((b * H + h) * BS + o) * D + e;
  return ((b * BS + o) * H + h) * D + e;
}
static int64_t value_off(kvscale_cache_layout l, int64_t slot, int h, int e) {
  int64_t b = slot / BS, o = slot % BS;
  if (l == KVSCALE_LAYOUT_SPLIT) return ((b * H + h) * D + e) * BS + o;
  return key_off(l, slot, h, e);
}

static void test_paged(kvscale_cache_layout layout) {
  static float key[T * H * D], value[T * H * D], kback[T * H * D], vback[T * H * D];
  static uint8_t kc[NB * BS * H * D], vc[NB * BS * H * D];
  const int64_t slots[T] = {7, -1, 0, 11, 4};
  const float ks[H] = {0.02f, 0.5f}, vs = 0.03125f;
  int t, h, e, i;
  kvscale_paged_args a = paged_args(layout, key, value, slots, kc, vc, ks, &vs);
  for (i = 0; i < T * H * D; ++i) {
    key[i] = (float)sin(i * 0.37) * 9.0f;
    value[i] = (float)cos(i * 0.11) * (i % 7 == 0 ? 40.0f : 3.0f); /* some saturate */
    kback[i] = vback[i] = -7.0f;
  }
  memset(kc, 0xAA, sizeof kc);
  memset(vc, 0xAA, sizeof vc);
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_SUCCESS);
  for (t = 0; t < T; ++t) {
    if (slots[t] < 0) continue;
    for (h = 0; h < H; ++h)
      for (e = 0; e < D; ++e) {
        int r = (t * H + h) * D + e;
        CHECK(kc[key_off(layout, slots[t], h, e)] == ref_quantize(KVSCALE_E4M3FN, key[r], ks[h]));
        CHECK(vc[value_off(layout, slots[t], h, e)] == ref_quantize(KVSCALE_E4M3FN, value[r], vs));
      }
  }
  {
    /* Slots nobody wrote keep their bytes (slot 1 was never mapped). */
    CHECK(kc[key_off(layout, 1, 0, 0)] == 0xAA && vc[value_off(layout, 1, 1, D - 1)] == 0xAA);
  }
  a.key = kback;
  a.value = vback;
  CHECK_STATUS(kvscale_paged_read(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_SUCCESS);
  for (t = 0; t < T; ++t)
    for (h = 0; h < H; ++h)
      for (e = 0; e < D; ++e) {
        int r = (t * H + h) * D + e;
        if (slots[t] < 0) {
          CHECK(kback[r] == -7.0f && vback[r] == -7.0f); /* padding rows untouched */
          continue;
        }
        CHECK(kback[r] == (float)ref_decode(KVSCALE_E4M3FN, kc[key_off(layout, slots[t], h, e)]) * ks[h]);
        CHECK(vback[r] == (float)ref_decode(KVSCALE_E4M3FN, vc[value_off(layout, slots[t], h, e)]) * vs);
      }
}

static void test_paged_errors(void) {
  static float key[T * H * D];
  static uint8_t kc[NB * BS * H * D], vc[NB * BS * H * D];
  int64_t slots[T] = {0, 1, 2, 3, 4};
  const float ks[H] = {1.0f, 1.0f};
  kvscale_paged_args a = paged_args(KVSCALE_LAYOUT_NHD, key, key, slots, kc, vc, ks, ks);
  memset(key, 0, sizeof key);
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, NULL, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("args is NULL");
  CHECK_STATUS(kvscale_paged_read(KVSCALE_BACKEND_CPU, NULL, NULL), KVSCALE_INVALID_ARGUMENT);
  slots[3] = NB * BS; /* one past the cache */
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("slot_mapping[3]");
  slots[3] = 3;
  a.cache.layout = (kvscale_cache_layout)7;
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_ERROR_MENTIONS("unknown cache layout 7");
  a.cache.layout = KVSCALE_LAYOUT_SPLIT;
  a.cache.head_size = a.rows.head_size = 24; /* split needs a multiple of 16 */
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_INVALID_ARGUMENT);
  a = paged_args(KVSCALE_LAYOUT_NHD, key, key, slots, kc, vc, ks, ks);
  a.rows.key_row_stride = H * D - 1; /* rows overlap */
  CHECK_STATUS(kvscale_paged_read(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_INVALID_ARGUMENT);
  a = paged_args(KVSCALE_LAYOUT_NHD, key, key, slots, kc, NULL, ks, ks);
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_INVALID_ARGUMENT);
  /* Zero tokens: a no-op that touches nothing, NULL data included. */
  a = paged_args(KVSCALE_LAYOUT_NHD, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  a.rows.num_tokens = 0;
  CHECK_STATUS(kvscale_paged_write(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_SUCCESS);
  CHECK_STATUS(kvscale_paged_read(KVSCALE_BACKEND_CPU, &a, NULL), KVSCALE_SUCCESS);
}

static void test_observe_amax(void) {
  float key[2 * 2 * 4] = {1, -3, 2, 0, 0.5f, 0.25f, -7, 1, /* token 1 (padding below) */ 100, 0, 0, 0, 0, 0, 0, 0};
  float value[2 * 2 * 4] = {0, 0, 0, -0.5f, 2, 2, 2, 2, 50, 50, 50, 50, 50, 50, 50, 50};
  float amax[2 + 2 * 2] = {0};
  const int64_t slots[2] = {3, -1};
  kvscale_token_rows r = {2, 2, 4, 8, 8};
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, &r, key, value, slots, amax, NULL),
               KVSCALE_SUCCESS);
  CHECK(amax[0] == 7 && amax[1] == 2 && amax[2] == 3 && amax[3] == 7 && amax[4] == 0.5f && amax[5] == 2);
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, &r, key, value, NULL, amax, NULL),
               KVSCALE_SUCCESS);
  CHECK(amax[0] == 100 && amax[1] == 50 && amax[2] == 100);
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, NULL, key, value, NULL, amax, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, &r, key, value, NULL, NULL, NULL),
               KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, (kvscale_dtype)9, &r, key, value, NULL, amax, NULL),
               KVSCALE_INVALID_ARGUMENT);
  r.num_tokens = 0;
  CHECK_STATUS(kvscale_observe_amax(KVSCALE_BACKEND_CPU, KVSCALE_F32, &r, NULL, NULL, NULL, NULL, NULL),
               KVSCALE_SUCCESS);
}

int main(void) {
  test_contiguous();
  test_contiguous_errors();
  test_paged(KVSCALE_LAYOUT_NHD);
  test_paged(KVSCALE_LAYOUT_HND);
  test_paged(KVSCALE_LAYOUT_SPLIT);
  test_paged_errors();
  test_observe_amax();
  return TEST_RESULT();
}
