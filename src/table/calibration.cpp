// scales_from_amax (calibration.hpp): amax buffer -> ScaleTable.
#include "kvscale/calibration.hpp"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace kvscale {
namespace {

Status bad(const std::string& what) { return detail::fail(Status::invalid_argument, "scales_from_amax: " + what); }

// Checks one amax and turns it into a scale; `where` names it for the message.
Status scale_of(float amax, const std::string& where, float* scale, int* floored) {
  if (std::isnan(amax)) return bad(where + " amax is NaN (the buffer was not filled by observe_amax)");
  if (amax < 0.0f) return bad(where + " amax is negative (the buffer was not filled by observe_amax)");
  if (std::isinf(amax)) return bad(where + " amax is inf: the calibration data held inf, which no finite scale covers");
  const float s = amax / kCalibrationFp8Max;  // IEEE division; never a reciprocal multiply
  if (s < kMinCalibratedScale) {              // also catches -0 and +0
    *scale = kMinCalibratedScale;
    ++*floored;
  } else {
    *scale = s;
  }
  return Status::success;
}

}  // namespace

Status scales_from_amax(const float* amax, int tp_size, int num_layers, int num_kv_heads,
                        const CalibrationOptions& options, ScaleTable* out, CalibrationReport* report) noexcept {
  if (out == nullptr) return bad("out is null");
  if (amax == nullptr) return bad("amax is null");
  if (tp_size <= 0 || num_layers <= 0 || num_kv_heads <= 0)
    return bad("tp_size, num_layers and num_kv_heads must be > 0, got " + std::to_string(tp_size) + ", " +
               std::to_string(num_layers) + " and " + std::to_string(num_kv_heads));
  if (options.granularity != Granularity::tensor && options.granularity != Granularity::head)
    return bad("unknown granularity");
  const bool per_head = options.granularity == Granularity::head;
  const std::size_t stride = static_cast<std::size_t>(amax_floats(num_kv_heads));
  const std::size_t H = static_cast<std::size_t>(num_kv_heads);
  int floored = 0;
  try {
    std::vector<ScaleEntry> k, v;
    k.reserve(static_cast<std::size_t>(tp_size) * static_cast<std::size_t>(num_layers));
    v.reserve(k.capacity());
    for (int rank = 0; rank < tp_size; ++rank) {
      for (int layer = 0; layer < num_layers; ++layer) {
        const float* a = amax + (static_cast<std::size_t>(rank) * static_cast<std::size_t>(num_layers) +
                                 static_cast<std::size_t>(layer)) *
                                    stride;
        const std::string where = "rank " + std::to_string(rank) + " layer " + std::to_string(layer);
        for (int side = 0; side < 2; ++side) {
          ScaleEntry e;
          e.granularity = options.granularity;
          const char* kv = side == 0 ? " K" : " V";
          if (per_head) {
            e.values.resize(H);
            for (std::size_t h = 0; h < H; ++h) {
              if (Status s = scale_of(a[2 + static_cast<std::size_t>(side) * H + h],
                                      where + kv + " head " + std::to_string(h), &e.values[h], &floored);
                  s != Status::success)
                return s;
            }
          } else {
            e.values.resize(1);
            if (Status s = scale_of(a[side], where + kv, &e.values[0], &floored); s != Status::success) return s;
          }
          (side == 0 ? k : v).push_back(std::move(e));
        }
      }
    }
    *out = ScaleTable(tp_size, num_layers, per_head ? num_kv_heads : 0, k, v, options.model_type);
  } catch (const std::bad_alloc&) {
    return detail::fail(Status::out_of_memory, "scales_from_amax: out of memory");
  }
  if (report != nullptr) report->floored = floored;
  return Status::success;
}

}  // namespace kvscale
