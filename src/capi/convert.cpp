// C ABI: the writers behind `kvscale convert` (kvscale.h).
#include <string>

#include "capi/capi_common.hpp"

namespace kvscale {
namespace capi {
namespace {

using Writer = Status (*)(const ScaleTable&, const std::string&, const WriteOptions&) noexcept;

kvscale_status write(const char* function, Writer writer, const kvscale_scales* scales, const char* path, int merge_max,
                     int force) {
  return guarded(function, [&] {
    if (scales == nullptr) return null_argument(function, "scales");
    if (path == nullptr) return null_argument(function, "path");
    if (!scales->result.ok())
      return fail(KVSCALE_INVALID_SCALES, std::string(function) + ": the scales were rejected; nothing was written");
    WriteOptions wo;
    wo.merge = merge_max ? MergePolicy::max : MergePolicy::none;
    wo.force = force != 0;
    return from_status(writer(scales->result.table, path, wo));
  });
}

}  // namespace
}  // namespace capi
}  // namespace kvscale

extern "C" {

kvscale_status kvscale_scales_write_json(const kvscale_scales* scales, const char* path, int merge_max, int force) {
  return kvscale::capi::write("kvscale_scales_write_json", kvscale::write_scales_json, scales, path, merge_max, force);
}

kvscale_status kvscale_scales_write_safetensors(const kvscale_scales* scales, const char* path, int merge_max,
                                                int force) {
  return kvscale::capi::write("kvscale_scales_write_safetensors", kvscale::write_scales_safetensors, scales, path,
                              merge_max, force);
}

}  // extern "C"
