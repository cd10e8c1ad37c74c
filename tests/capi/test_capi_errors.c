/* C ABI: versions, status names, the thread-local last error. */
#include <pthread.h>

#include "capi_test.h"
#include "kvscale/version.hpp"

static void* other_thread(void* arg) {
  (void)arg;
  /* A fresh thread starts without an error, whatever the main thread did. */
  return kvscale_last_error()[0] == '\0' ? (void*)1 : (void*)0;
}

int main(void) {
  CHECK(kvscale_abi_version() == KVSCALE_ABI_VERSION);
  CHECK(strcmp(kvscale_version(), KVSCALE_VERSION_STRING) == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_SUCCESS), "success") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_INVALID_ARGUMENT), "invalid_argument") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_UNSUPPORTED), "unsupported") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_NO_DEVICE), "no_device") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_DEVICE_ERROR), "device_error") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_OUT_OF_MEMORY), "out_of_memory") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_INVALID_SCALES), "invalid_scales") == 0);
  CHECK(strcmp(kvscale_status_name(KVSCALE_INTERNAL_ERROR), "internal_error") == 0);
  CHECK(strcmp(kvscale_status_name((kvscale_status)99), "unknown_status") == 0);
  CHECK(strcmp(kvscale_gpu_backend(), "hip") == 0 || strcmp(kvscale_gpu_backend(), "cuda") == 0 ||
        strcmp(kvscale_gpu_backend(), "none") == 0);

  /* A failure sets the message; the next successful entry point clears it. */
  kvscale_scales* h = NULL;
  CHECK_STATUS(kvscale_scales_load(NULL, NULL, &h), KVSCALE_INVALID_ARGUMENT);
  CHECK(h == NULL);
  CHECK_ERROR_MENTIONS("kvscale_scales_load: path is NULL");
  {
    pthread_t t;
    void* clean = NULL;
    CHECK(pthread_create(&t, NULL, other_thread, NULL) == 0);
    CHECK(pthread_join(t, &clean) == 0);
    CHECK(clean == (void*)1);
  }
  CHECK_ERROR_MENTIONS("path is NULL"); /* still this thread's */
  {
    float in = 1.0f, scale = 1.0f;
    uint8_t out = 0;
    CHECK_STATUS(kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, &in, &out, 1, &scale, NULL),
                 KVSCALE_SUCCESS);
    CHECK(kvscale_last_error()[0] == '\0');
    CHECK(out == 0x38);
  }
  kvscale_cpu_set_num_threads(1);
  kvscale_cpu_set_num_threads(0); /* back to the default */
  return TEST_RESULT();
}
