// The public entry points for vLLM's kv_cache_scales.json (spec docs/scales-file.md):
//   1. options: limits clamped, context judged once (options.hpp);
//   2. I/O for a path: bounded read (read_file.hpp);
//   3. one streaming pass: prescan + SAX layer + schema validator (scales_validator.hpp);
//   4. required keys and V2/V3 sets, then the table (set_checks.hpp);
//   5. the opt-in unit fallback.
// Exceptions never leave: guarded_load() is the one boundary that turns them into diagnostics.
#include <new>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvscale/scales.hpp"
#include "options.hpp"
#include "read_file.hpp"
#include "scales_validator.hpp"
#include "set_checks.hpp"
#include "sink.hpp"

namespace kvscale {

namespace {

using loader::Sink;

/// Steps 3 and 4 over bytes; `writable` as for parse_json_text().
void validate_bytes(std::string_view bytes, std::string* writable, const LoadLimits& lim, const LoadContext* ctx,
                    Sink& sink, LoadResult& res) {
  loader::ParsedDocument doc;
  if (!loader::validate_scales_json(bytes, writable, lim, ctx, sink, res.warnings, &doc)) return;
  loader::check_required_keys(doc, sink);
  if (!doc.scaling_factor_object) return;
  if (auto table = loader::check_sets_and_build(doc, ctx, sink)) res.table = std::move(*table);
}

/// vLLM's behaviour, opt-in: every scale 1.0 for the context. Needs a usable context.
void apply_fallback(const LoadOptions& opt, const LoadContext* ctx, bool rejected, LoadResult& res) {
  if (!rejected || opt.on_failure != FailurePolicy::unit_fallback || ctx == nullptr) return;
  const std::size_t n = static_cast<std::size_t>(ctx->tp_size) * static_cast<std::size_t>(ctx->num_hidden_layers);
  res.table = ScaleTable(ctx->tp_size, ctx->num_hidden_layers, std::vector<float>(n, 1.0f), ctx->model_type);
  res.used_fallback = true;
}

/// Adds a diagnostic past the cap: the reason the load stopped must never be dropped. When even
/// that allocation fails, the empty list is the best left to give.
void add_terminal(Sink& sink, DiagCode code, const char* message, const char* detail = "") noexcept {
  try {
    sink.diags().push_back({code, "", std::string(message) + detail});
  } catch (...) {
  }
}

/// The exception boundary of every scales-file entry point: std::bad_alloc becomes out_of_memory,
/// any other exception internal_error (a bug). Either way the table and fallback are dropped and
/// the diagnostics found so far are kept. `body(limits, ctx, sink, result)` does the loading.
template <class Body>
LoadResult guarded_load(const LoadOptions& options, Body&& body) noexcept {
  LoadResult res;
  const LoadLimits lim = loader::clamp_limits(options.limits);
  Sink sink(lim.max_diagnostics);  // allocates nothing until the first diagnostic
  try {
    const LoadContext* ctx = loader::usable_context(options, lim, sink);
    body(lim, ctx, sink, res);
    apply_fallback(options, ctx, !sink.diags().empty(), res);
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

}  // namespace

LoadResult load_scales_json(std::string_view bytes, const LoadOptions& options) noexcept {
  return guarded_load(options, [&](const LoadLimits& lim, const LoadContext* ctx, Sink& sink, LoadResult& res) {
    validate_bytes(bytes, nullptr, lim, ctx, sink, res);
  });
}

LoadResult load_scales_file(const std::string& path, const LoadOptions& options) noexcept {
  return guarded_load(options, [&](const LoadLimits& lim, const LoadContext* ctx, Sink& sink, LoadResult& res) {
    std::string buf;
    if (loader::read_file(path, lim.max_file_bytes, sink, &buf)) validate_bytes(buf, &buf, lim, ctx, sink, res);
  });
}

ScaleTable load_scales_file_or_throw(const std::string& path, const LoadContext& context) {
  LoadOptions o;
  o.context = context;
  LoadResult r = load_scales_file(path, o);
  if (!r.ok()) throw LoadError(std::move(r.diagnostics));
  return std::move(r.table);
}

}  // namespace kvscale
