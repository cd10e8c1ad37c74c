// kvscale/calibration.hpp: from observed amax to a ScaleTable (issue 9, item 4).
//
// A calibration run: zero an amax buffer of [tp_size][num_layers][amax_floats(H)] floats, call
// cpu::observe_amax or gpu::observe_amax (kv_cache.hpp / cpu.hpp / gpu.hpp) for every layer's K/V
// of every batch, then scales_from_amax() and write the table with write_scales_json() or
// write_scales_safetensors() (scales.hpp).
#pragma once

#include <cfloat>
#include <cstdint>
#include <optional>
#include <string>

#include "kvscale/export.h"
#include "kvscale/kv_cache.hpp"
#include "kvscale/scales.hpp"
#include "kvscale/status.hpp"

namespace kvscale {

/// The divisor of scale = amax / kCalibrationFp8Max: e4m3fn's max finite, the convention of every
/// producer (compressed-tensors, ModelOpt, Quark). The x2 for an e4m3fnuz cache is applied later,
/// by effective_scale() / DeviceScales, never here.
constexpr float kCalibrationFp8Max = 448.0f;

/// The smallest scale scales_from_amax() returns: FLT_MIN (2^-126, the smallest normal float).
/// A layer or head that saw only zeros (or only values below 448 * FLT_MIN) gets it. It keeps the
/// spec's "finite and > 0" (the loader accepts it, x2 for fnuz stays exact), quantizes zeros to
/// zeros, and every fp8 code times it is a nonzero float (2^-9 * 2^-126 >= 2^-149), while it never
/// changes the scale of data with a meaningful amax (a floor like 1/448 would clamp every layer
/// whose |x| stays below 1). Such entries are counted in CalibrationReport::floored.
constexpr float kMinCalibratedScale = FLT_MIN;

struct CalibrationOptions {
  /// tensor: one scale per layer and K/V, from the per-tensor amax. head: one per KV head.
  Granularity granularity = Granularity::tensor;
  std::optional<std::string> model_type;  ///< Stored in the table (and written to JSON).
};

struct CalibrationReport {
  int floored = 0;  ///< Scales set to kMinCalibratedScale (amax < 448 * FLT_MIN, e.g. all zeros).
};

/// Scales from an amax buffer: scale = max(amax / 448, kMinCalibratedScale), one IEEE float
/// division (the same bits on every machine).
///
/// `amax` holds tp_size * num_layers blocks of amax_floats(num_kv_heads) floats, rank-major:
/// block (rank, layer) starts at (rank * num_layers + layer) * amax_floats(num_kv_heads), laid out
/// as observe_amax() fills it. num_kv_heads is the heads of one rank (the table's heads_per_rank()
/// for per-head scales). The table has K != V in general: write_scales_json() then needs
/// MergePolicy::max (the conservative merge); the safetensors writer keeps both.
///
/// Errors (invalid_argument, with last_error_message() naming rank, layer, K/V and head):
/// null pointers, tp_size / num_layers / num_kv_heads <= 0, and an amax that is NaN, negative or
/// inf. inf means the data held inf (or overflowed); no finite scale covers it, so the caller must
/// look at the data rather than get a scale that quantizes everything else to zero.
KVSCALE_EXPORT Status scales_from_amax(const float* amax, int tp_size, int num_layers, int num_kv_heads,
                                       const CalibrationOptions& options, ScaleTable* out,
                                       CalibrationReport* report = nullptr) noexcept;

}  // namespace kvscale
