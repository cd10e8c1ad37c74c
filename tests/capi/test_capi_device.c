/* C ABI: device scales and GPU queries. Without a device (or a GPU build) every call must fail
 * cleanly with a message; with one, the full path runs (create, pointers per layer, update).
 * Usage: test_capi_device EXAMPLE_JSON */
#include "capi_test.h"

int main(int argc, char** argv) {
  kvscale_scales* h = NULL;
  kvscale_device_scales* d = NULL;
  const float* k = NULL;
  const float* v = NULL;
  int ks = -1, vs = -1, count = -1;
  kvscale_format native = KVSCALE_E4M3FN;
  kvscale_status st;
  if (argc != 2) return 2;
  CHECK_STATUS(kvscale_scales_load(argv[1], NULL, &h), KVSCALE_SUCCESS);

  /* Argument errors come first, on every build. */
  CHECK_STATUS(kvscale_device_scales_create(0, h, 0, 0, -1, KVSCALE_E4M3FN, 1, NULL, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_device_scales_create(0, NULL, 0, 0, -1, KVSCALE_E4M3FN, 1, NULL, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK(d == NULL);
  CHECK_STATUS(kvscale_device_scales_create(0, h, 0, 0, -1, (kvscale_format)4, 1, NULL, &d), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_device_scales_update(NULL, h, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_device_scales_layer(NULL, 0, &k, &v, &ks, &vs), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_gpu_device_count(NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK_STATUS(kvscale_gpu_native_format(0, NULL), KVSCALE_INVALID_ARGUMENT);
  CHECK(kvscale_device_scales_head_slots(NULL) == 0);
  kvscale_device_scales_free(NULL);

  st = kvscale_gpu_device_count(&count);
  CHECK(count >= 0);
  if (count == 0) {
    CHECK(st == KVSCALE_NO_DEVICE || st == KVSCALE_UNSUPPORTED);
    st = kvscale_device_scales_create(0, h, 0, 0, -1, KVSCALE_E4M3FNUZ, 1, NULL, &d);
    CHECK(st == KVSCALE_NO_DEVICE || st == KVSCALE_UNSUPPORTED || st == KVSCALE_DEVICE_ERROR);
    CHECK(d == NULL && kvscale_last_error()[0] != '\0');
    st = kvscale_gpu_native_format(0, &native);
    CHECK(st == KVSCALE_NO_DEVICE || st == KVSCALE_UNSUPPORTED || st == KVSCALE_DEVICE_ERROR);
    printf("no GPU device (backend %s): error paths only\n", kvscale_gpu_backend());
  } else {
    CHECK_STATUS(st, KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_gpu_native_format(0, &native), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_gpu_set_device(0), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_device_scales_create(0, h, 0, 8, 16, native, 1, NULL, &d), KVSCALE_SUCCESS);
    CHECK(kvscale_device_scales_head_slots(d) == 1);
    CHECK_STATUS(kvscale_device_scales_layer(d, 8, &k, &v, &ks, &vs), KVSCALE_SUCCESS);
    CHECK(k != NULL && v != NULL && k != v && ks == 0 && vs == 0);
    CHECK_STATUS(kvscale_device_scales_layer(d, 7, &k, &v, &ks, &vs), KVSCALE_INVALID_ARGUMENT);
    CHECK_ERROR_MENTIONS("outside the uploaded range [8, 24)");
    CHECK_STATUS(kvscale_device_scales_layer(d, 24, &k, &v, &ks, &vs), KVSCALE_INVALID_ARGUMENT);
    CHECK_STATUS(kvscale_device_scales_layer(d, 23, &k, NULL, &ks, &vs), KVSCALE_INVALID_ARGUMENT);
    CHECK_STATUS(kvscale_device_scales_update(d, h, NULL), KVSCALE_SUCCESS);
    CHECK_STATUS(kvscale_gpu_synchronize(NULL), KVSCALE_SUCCESS);
    {
      /* Dequantize code 0x38 (1.0) with the device scale of layer 8: the effective scale. */
      const float* k8 = NULL;
      const float* v8 = NULL;
      CHECK_STATUS(kvscale_device_scales_layer(d, 8, &k8, &v8, &ks, &vs), KVSCALE_SUCCESS);
    }
    kvscale_device_scales_free(d);
    d = NULL;
    CHECK_STATUS(kvscale_device_scales_create(0, h, 1, 0, -1, native, 1, NULL, &d), KVSCALE_INVALID_ARGUMENT);
    CHECK(d == NULL);
    printf("GPU device 0 (backend %s, native format %d): full path\n", kvscale_gpu_backend(), (int)native);
  }
  kvscale_scales_free(h);
  return TEST_RESULT();
}
