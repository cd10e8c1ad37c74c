// C ABI: DeviceScales, one rank's effective scales on a GPU at fixed pointers (kvscale.h).
#include <memory>
#include <string>

#include "capi/capi_common.hpp"

using namespace kvscale;
using namespace kvscale::capi;

extern "C" {

kvscale_status kvscale_device_scales_create(int device, const kvscale_scales* scales, int rank, int first_layer,
                                            int num_layers, kvscale_format cache_format, int apply_fnuz_factor,
                                            void* stream, kvscale_device_scales** out) {
  return guarded("kvscale_device_scales_create", [&] {
    if (out == nullptr) return null_argument("kvscale_device_scales_create", "out");
    *out = nullptr;
    if (scales == nullptr) return null_argument("kvscale_device_scales_create", "scales");
    if (!scales->result.ok() && !scales->result.used_fallback)
      return fail(KVSCALE_INVALID_SCALES, "kvscale_device_scales_create: the scales were rejected");
    if (cache_format != KVSCALE_E4M3FN && cache_format != KVSCALE_E4M3FNUZ)
      return fail(KVSCALE_INVALID_ARGUMENT, "kvscale_device_scales_create: unknown cache format " +
                                                std::to_string(static_cast<int>(cache_format)));
    ScaleConversion conv;
    conv.cache_format = static_cast<Fp8Format>(cache_format);
    conv.apply_fnuz_factor = apply_fnuz_factor != 0;
    auto h = std::make_unique<kvscale_device_scales>();
    const Status s = DeviceScales::create(device, scales->result.table, rank, LayerRange{first_layer, num_layers}, conv,
                                          stream, &h->scales);
    if (s != Status::success) return from_status(s);
    *out = h.release();
    return KVSCALE_SUCCESS;
  });
}

kvscale_status kvscale_device_scales_update(kvscale_device_scales* device_scales, const kvscale_scales* scales,
                                            void* stream) {
  return guarded("kvscale_device_scales_update", [&] {
    if (device_scales == nullptr) return null_argument("kvscale_device_scales_update", "device_scales");
    if (scales == nullptr) return null_argument("kvscale_device_scales_update", "scales");
    if (!scales->result.ok() && !scales->result.used_fallback)
      return fail(KVSCALE_INVALID_SCALES, "kvscale_device_scales_update: the scales were rejected");
    return from_status(device_scales->scales.update(scales->result.table, stream));
  });
}

kvscale_status kvscale_device_scales_layer(const kvscale_device_scales* device_scales, int layer, const float** k_scale,
                                           const float** v_scale, int* k_scale_stride, int* v_scale_stride) {
  return guarded("kvscale_device_scales_layer", [&] {
    if (device_scales == nullptr) return null_argument("kvscale_device_scales_layer", "device_scales");
    if (k_scale == nullptr || v_scale == nullptr || k_scale_stride == nullptr || v_scale_stride == nullptr)
      return null_argument("kvscale_device_scales_layer", "an output");
    const DeviceScales& d = device_scales->scales;
    if (layer < d.first_layer() || layer >= d.first_layer() + d.num_layers())
      return fail(KVSCALE_INVALID_ARGUMENT, "kvscale_device_scales_layer: layer " + std::to_string(layer) +
                                                " is outside the uploaded range [" + std::to_string(d.first_layer()) +
                                                ", " + std::to_string(d.first_layer() + d.num_layers()) + ")");
    *k_scale = d.k_scale(layer);
    *v_scale = d.v_scale(layer);
    *k_scale_stride = d.k_scale_stride(layer);
    *v_scale_stride = d.v_scale_stride(layer);
    return KVSCALE_SUCCESS;
  });
}

int kvscale_device_scales_head_slots(const kvscale_device_scales* device_scales) {
  return device_scales != nullptr ? device_scales->scales.head_slots() : 0;
}

void kvscale_device_scales_free(kvscale_device_scales* device_scales) { delete device_scales; }

}  // extern "C"
