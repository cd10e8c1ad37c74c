/* The C ABI from plain C: loads a scales file for TP rank 0, prints layer 0's scale, and quantizes
 * a few values on the CPU backend. Usage: kvscale_c_consumer FILE NUM_LAYERS */
#include <kvscale/kvscale.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv) {
  kvscale_load_options options;
  kvscale_scales* scales = NULL;
  const float* k = NULL;
  int count = 0;
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
  if (kvscale_scales_entry(scales, KVSCALE_K, 0, 0, &k, &count, NULL) != KVSCALE_SUCCESS ||
      kvscale_quantize(KVSCALE_BACKEND_CPU, KVSCALE_E4M3FN, KVSCALE_F32, in, out, 4, k, NULL) != KVSCALE_SUCCESS) {
    fprintf(stderr, "%s\n", kvscale_last_error());
    kvscale_scales_free(scales);
    return 1;
  }
  printf("kvscale %s (C ABI %u): layer 0 scale %.9g, codes %02x %02x %02x %02x\n", kvscale_version(),
         (unsigned)kvscale_abi_version(), (double)k[0], out[0], out[1], out[2], out[3]);
  kvscale_scales_free(scales);
  return out[3] == 0x7E ? 0 : 1; /* 1e9 saturates to +448 */
}
