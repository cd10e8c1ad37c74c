// Judging the caller's options: clamped limits and the context's validity.
#include "options.hpp"

#include <algorithm>
#include <string>

namespace kvscale {
namespace loader {

LoadLimits clamp_limits(const LoadLimits& in) noexcept {
  const LoadLimits d;
  LoadLimits l = in;
  l.max_file_bytes = std::min(l.max_file_bytes, d.max_file_bytes);
  l.max_depth = std::max(1, std::min(l.max_depth, d.max_depth));
  l.max_ranks = std::max(1, std::min(l.max_ranks, d.max_ranks));
  l.max_layers = std::max(1, std::min(l.max_layers, d.max_layers));
  l.max_diagnostics = std::min(l.max_diagnostics, d.max_diagnostics * 100);
  return l;
}

namespace {

bool check_tp_size(const LoadContext& c, const LoadLimits& lim, Sink& sink) {
  if (c.tp_size <= 0) {
    sink.add(DiagCode::invalid_context, "", "expected tp_size >= 1 in the context, found " + std::to_string(c.tp_size));
    return false;
  }
  if (c.tp_size > lim.max_ranks) {
    sink.add(
        DiagCode::too_many_ranks, "",
        "expected tp_size <= " + std::to_string(lim.max_ranks) + " in the context, found " + std::to_string(c.tp_size));
    return false;
  }
  return true;
}

bool check_num_layers(const LoadContext& c, const LoadLimits& lim, Sink& sink) {
  if (c.num_hidden_layers < 0) {
    sink.add(DiagCode::invalid_context, "",
             "expected num_hidden_layers >= 0 in the context, found " + std::to_string(c.num_hidden_layers));
    return false;
  }
  if (c.num_hidden_layers > lim.max_layers) {
    sink.add(DiagCode::too_many_layers, "",
             "expected num_hidden_layers <= " + std::to_string(lim.max_layers) + " in the context, found " +
                 std::to_string(c.num_hidden_layers));
    return false;
  }
  return true;
}

void check_tp_rank(const LoadContext& c, Sink& sink) {
  if (c.tp_rank >= 0 && (c.tp_size <= 0 || c.tp_rank < c.tp_size)) return;
  sink.add(DiagCode::tp_rank_out_of_range, "",
           c.tp_size > 0 ? "expected tp_rank in 0.." + std::to_string(c.tp_size - 1) + " (tp_size " +
                               std::to_string(c.tp_size) + "), found " + std::to_string(c.tp_rank)
                         : "expected tp_rank >= 0, found " + std::to_string(c.tp_rank));
}

}  // namespace

const LoadContext* usable_context(const LoadOptions& options, const LoadLimits& limits, Sink& sink) {
  if (!options.context) return nullptr;
  const LoadContext& c = *options.context;
  // Both checks run so that every problem of the context is reported, not only the first.
  const bool tp_ok = check_tp_size(c, limits, sink);
  const bool layers_ok = check_num_layers(c, limits, sink);
  check_tp_rank(c, sink);
  return tp_ok && layers_ok ? &c : nullptr;
}

}  // namespace loader
}  // namespace kvscale
