// C ABI: scales from an observe_amax buffer (kvscale.h, kvscale_scales_from_amax).
#include "kvscale/calibration.hpp"

#include <memory>
#include <string>

#include "capi/capi_common.hpp"

using namespace kvscale;
using namespace kvscale::capi;

extern "C" {

kvscale_status kvscale_scales_from_amax(const float* amax, int tp_size, int num_layers, int num_kv_heads,
                                        kvscale_granularity granularity, const char* model_type, kvscale_scales** out,
                                        int* floored) {
  return guarded("kvscale_scales_from_amax", [&] {
    if (out == nullptr) return null_argument("kvscale_scales_from_amax", "out");
    *out = nullptr;
    if (floored != nullptr) *floored = 0;
    if (granularity != KVSCALE_PER_TENSOR && granularity != KVSCALE_PER_HEAD)
      return fail(KVSCALE_INVALID_ARGUMENT,
                  "kvscale_scales_from_amax: granularity must be KVSCALE_PER_TENSOR or KVSCALE_PER_HEAD, got " +
                      std::to_string(static_cast<long long>(granularity)));
    CalibrationOptions options;
    options.granularity = granularity == KVSCALE_PER_HEAD ? Granularity::head : Granularity::tensor;
    if (model_type != nullptr) options.model_type = std::string(model_type);
    auto h = std::make_unique<kvscale_scales>();
    h->calibrated = true;
    CalibrationReport report;
    const Status s = scales_from_amax(amax, tp_size, num_layers, num_kv_heads, options, &h->result.table, &report);
    if (s != Status::success) return from_status(s);
    if (floored != nullptr) *floored = report.floored;
    *out = h.release();
    return KVSCALE_SUCCESS;
  });
}

}  // extern "C"
