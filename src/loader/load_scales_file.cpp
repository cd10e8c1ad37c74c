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

#include "guarded_load.hpp"
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

}  // namespace

LoadResult load_scales_json(std::string_view bytes, const LoadOptions& options) noexcept {
  return loader::guarded_load(options, [&](const LoadLimits& lim, const LoadContext* ctx, Sink& sink, LoadResult& res) {
    validate_bytes(bytes, nullptr, lim, ctx, sink, res);
    return 0;
  });
}

LoadResult load_scales_file(const std::string& path, const LoadOptions& options) noexcept {
  return loader::guarded_load(options, [&](const LoadLimits& lim, const LoadContext* ctx, Sink& sink, LoadResult& res) {
    std::string buf;
    if (loader::read_file(path, lim.max_file_bytes, sink, &buf)) validate_bytes(buf, &buf, lim, ctx, sink, res);
    return 0;
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
