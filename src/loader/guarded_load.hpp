// Loader-private: the one exception boundary of every loading entry point (scales file and
// checkpoint), and vLLM's opt-in unit fallback.
#pragma once

#include <new>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"
#include "options.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// vLLM's behaviour, opt-in: every scale 1.0, `layers` per rank of the context.
inline void apply_fallback(const LoadContext& ctx, int layers, LoadResult& res) {
  if (layers <= 0) return;
  const std::size_t n = static_cast<std::size_t>(ctx.tp_size) * static_cast<std::size_t>(layers);
  res.table = ScaleTable(ctx.tp_size, layers, std::vector<float>(n, 1.0f), ctx.model_type);
  res.used_fallback = true;
}

/// Adds a diagnostic past the cap: the reason the load stopped must never be dropped. When even
/// that allocation fails, the empty list is the best left to give.
inline void add_terminal(Sink& sink, DiagCode code, const char* message, const char* detail = "") noexcept {
  try {
    sink.diags().push_back({code, "", std::string(message) + detail, std::string()});
  } catch (...) {
  }
}

/// Runs `body(limits, ctx, sink, result)`, which loads and returns the fallback's layer count
/// (0: the context's num_hidden_layers). std::bad_alloc becomes out_of_memory, any other exception
/// internal_error (a bug); either way the table and fallback are dropped and the diagnostics found
/// so far are kept. The context is judged once, here (usable_context).
template <class Body>
LoadResult guarded_load(const LoadOptions& options, Body&& body) noexcept {
  LoadResult res;
  const LoadLimits lim = clamp_limits(options.limits);
  Sink sink(lim.max_diagnostics);  // allocates nothing until the first diagnostic
  try {
    const LoadContext* ctx = usable_context(options, lim, sink);
    const int layers = body(lim, ctx, sink, res);
    if (!sink.diags().empty()) {
      res.table = ScaleTable();
      if (options.on_failure == FailurePolicy::unit_fallback && ctx != nullptr)
        apply_fallback(*ctx, layers > 0 ? layers : ctx->num_hidden_layers, res);
    }
  } catch (const std::bad_alloc&) {
    res.table = ScaleTable();
    res.used_fallback = false;
    add_terminal(sink, DiagCode::out_of_memory, "expected enough host memory to load, found none");
  } catch (const std::exception& e) {
    res.table = ScaleTable();
    res.used_fallback = false;
    add_terminal(sink, DiagCode::internal_error,
                 "expected no internal error, found an unexpected exception (please report it): ", e.what());
  } catch (...) {
    res.table = ScaleTable();
    res.used_fallback = false;
    add_terminal(sink, DiagCode::internal_error,
                 "expected no internal error, found an unknown exception (please report it)");
  }
  res.diagnostics = std::move(sink.diags());
  return res;
}

}  // namespace loader
}  // namespace kvscale
