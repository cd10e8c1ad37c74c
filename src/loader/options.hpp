// Loader-private: the caller's options, judged once per load (limits clamped, context checked).
#pragma once

#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// The spec's limits are maxima: larger values are clamped to them, and zero depths or counts
/// raised to 1.
LoadLimits clamp_limits(const LoadLimits& in) noexcept;

/// The one place that judges the caller's context: reports its problems (invalid_context,
/// too_many_ranks, too_many_layers, tp_rank_out_of_range) and returns it when it can drive the
/// set checks and the unit fallback, null when absent or unusable. A tp_rank out of range is an
/// error but leaves the context usable: the file can still be checked against it.
const LoadContext* usable_context(const LoadOptions& options, const LoadLimits& limits, Sink& sink);

}  // namespace loader
}  // namespace kvscale
