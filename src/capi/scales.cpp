// C ABI: loading and validating scales, their diagnostics and accessors (kvscale.h).
#include <memory>
#include <new>
#include <string>

#include "capi/capi_common.hpp"

namespace kvscale {
namespace capi {
namespace {

LoadOptions to_options(const kvscale_load_options* o) {
  LoadOptions opt;
  if (o == nullptr) return opt;
  if (o->has_context) {
    LoadContext c;
    c.tp_size = o->tp_size;
    c.tp_rank = o->tp_rank;
    c.num_hidden_layers = o->num_layers;
    if (o->model_type != nullptr) c.model_type = std::string(o->model_type);
    opt.context = c;
  }
  opt.on_failure = o->unit_fallback ? FailurePolicy::unit_fallback : FailurePolicy::error;
  // 0 keeps the default; the loader clamps larger values to the defaults.
  LoadLimits& l = opt.limits;
  if (o->max_file_bytes) l.max_file_bytes = o->max_file_bytes;
  if (o->max_depth) l.max_depth = o->max_depth;
  if (o->max_ranks) l.max_ranks = o->max_ranks;
  if (o->max_layers) l.max_layers = o->max_layers;
  if (o->max_diagnostics) l.max_diagnostics = o->max_diagnostics;
  if (o->max_header_bytes) l.max_header_bytes = o->max_header_bytes;
  if (o->max_config_bytes) l.max_config_bytes = o->max_config_bytes;
  if (o->max_index_bytes) l.max_index_bytes = o->max_index_bytes;
  if (o->max_tensors) l.max_tensors = o->max_tensors;
  if (o->max_files) l.max_files = o->max_files;
  if (o->max_heads) l.max_heads = o->max_heads;
  return opt;
}

kvscale_status get_diagnostic(const std::vector<Diagnostic>& list, const std::vector<std::string>& locations, size_t i,
                              kvscale_diagnostic* out, const char* function) {
  if (out == nullptr) return null_argument(function, "out");
  if (i >= list.size())
    return fail(KVSCALE_INVALID_ARGUMENT, std::string(function) + ": index " + std::to_string(i) +
                                              " is not below the count " + std::to_string(list.size()));
  const Diagnostic& d = list[i];
  out->code = diag_code_name(d.code);
  out->rule = diag_code_rule(d.code);
  out->file = d.file.c_str();
  out->pointer = d.pointer.c_str();
  out->location = locations[i].c_str();
  out->message = d.message.c_str();
  return KVSCALE_SUCCESS;
}

}  // namespace
}  // namespace capi
}  // namespace kvscale

using namespace kvscale;
using namespace kvscale::capi;

extern "C" {

void kvscale_load_options_init(kvscale_load_options* options) {
  if (options == nullptr) return;
  *options = kvscale_load_options{};
  options->tp_size = 1;
}

kvscale_status kvscale_scales_load(const char* path, const kvscale_load_options* options, kvscale_scales** out) {
  return guarded("kvscale_scales_load", [&] {
    if (out == nullptr) return null_argument("kvscale_scales_load", "out");
    *out = nullptr;
    if (path == nullptr) return null_argument("kvscale_scales_load", "path");
    auto h = std::make_unique<kvscale_scales>();
    h->result = load_scales(path, to_options(options));
    for (const Diagnostic& d : h->result.diagnostics) h->diagnostic_locations.push_back(diagnostic_location(d));
    for (const Diagnostic& d : h->result.warnings) h->warning_locations.push_back(diagnostic_location(d));
    const bool rejected = !h->result.ok() && !h->result.used_fallback;
    std::string first = rejected ? format_diagnostic(h->result.diagnostics.front()) : std::string();
    *out = h.release();
    if (!rejected) return KVSCALE_SUCCESS;
    return fail(KVSCALE_INVALID_SCALES, std::string(path) + ":" + first);
  });
}

kvscale_status kvscale_validate(const char* path, const kvscale_load_options* options, size_t* num_diagnostics) {
  return guarded("kvscale_validate", [&] {
    if (num_diagnostics != nullptr) *num_diagnostics = 0;
    if (path == nullptr) return null_argument("kvscale_validate", "path");
    LoadOptions opt = to_options(options);
    opt.on_failure = FailurePolicy::error;  // validation judges the source itself
    const LoadResult r = load_scales(path, opt);
    if (num_diagnostics != nullptr) *num_diagnostics = r.diagnostics.size();
    if (r.ok()) return KVSCALE_SUCCESS;
    return fail(KVSCALE_INVALID_SCALES, std::string(path) + ":" + format_diagnostic(r.diagnostics.front()));
  });
}

void kvscale_scales_free(kvscale_scales* scales) { delete scales; }

size_t kvscale_scales_diagnostic_count(const kvscale_scales* scales) {
  return scales != nullptr ? scales->result.diagnostics.size() : 0;
}

size_t kvscale_scales_warning_count(const kvscale_scales* scales) {
  return scales != nullptr ? scales->result.warnings.size() : 0;
}

kvscale_status kvscale_scales_diagnostic(const kvscale_scales* scales, size_t i, kvscale_diagnostic* out) {
  return guarded("kvscale_scales_diagnostic", [&] {
    if (scales == nullptr) return null_argument("kvscale_scales_diagnostic", "scales");
    return get_diagnostic(scales->result.diagnostics, scales->diagnostic_locations, i, out,
                          "kvscale_scales_diagnostic");
  });
}

kvscale_status kvscale_scales_warning(const kvscale_scales* scales, size_t i, kvscale_diagnostic* out) {
  return guarded("kvscale_scales_warning", [&] {
    if (scales == nullptr) return null_argument("kvscale_scales_warning", "scales");
    return get_diagnostic(scales->result.warnings, scales->warning_locations, i, out, "kvscale_scales_warning");
  });
}

kvscale_status kvscale_scales_get_info(const kvscale_scales* scales, kvscale_scales_info* out) {
  return guarded("kvscale_scales_get_info", [&] {
    if (scales == nullptr) return null_argument("kvscale_scales_get_info", "scales");
    if (out == nullptr) return null_argument("kvscale_scales_get_info", "out");
    const LoadResult& r = scales->result;
    const ScaleTable& t = r.table;
    out->accepted = r.ok() ? 1 : 0;
    out->used_fallback = r.used_fallback ? 1 : 0;
    out->tp_size = t.empty() ? 0 : t.tp_size();
    out->num_layers = t.empty() ? 0 : t.num_layers();
    out->heads_per_rank = t.heads_per_rank();
    out->num_kv_heads = r.num_kv_heads;
    out->source = scales->calibrated ? KVSCALE_SOURCE_CALIBRATION : static_cast<kvscale_source>(r.source);
    out->granularity = table_granularity(t);
    out->producer = r.producer ? r.producer->c_str() : nullptr;
    out->model_type = t.model_type() ? t.model_type()->c_str() : nullptr;
    return KVSCALE_SUCCESS;
  });
}

kvscale_status kvscale_scales_entry(const kvscale_scales* scales, kvscale_kv which, int rank, int layer,
                                    const float** values, int* count, kvscale_granularity* granularity) {
  return guarded("kvscale_scales_entry", [&] {
    if (scales == nullptr) return null_argument("kvscale_scales_entry", "scales");
    if (values == nullptr || count == nullptr) return null_argument("kvscale_scales_entry", "values or count");
    const ScaleTable& t = scales->result.table;
    if (which != KVSCALE_K && which != KVSCALE_V)
      return fail(KVSCALE_INVALID_ARGUMENT, "kvscale_scales_entry: which must be KVSCALE_K or KVSCALE_V");
    if (t.empty() || rank < 0 || rank >= t.tp_size() || layer < 0 || layer >= t.num_layers())
      return fail(KVSCALE_INVALID_ARGUMENT, "kvscale_scales_entry: rank " + std::to_string(rank) + ", layer " +
                                                std::to_string(layer) + " is outside the table (" +
                                                std::to_string(t.empty() ? 0 : t.tp_size()) + " ranks x " +
                                                std::to_string(t.empty() ? 0 : t.num_layers()) + " layers)");
    const bool k = which == KVSCALE_K;
    *values = k ? t.k_scales(rank, layer) : t.v_scales(rank, layer);
    *count = k ? t.k_count(rank, layer) : t.v_count(rank, layer);
    if (granularity != nullptr)
      *granularity = static_cast<kvscale_granularity>(k ? t.k_granularity(rank, layer) : t.v_granularity(rank, layer));
    return KVSCALE_SUCCESS;
  });
}

}  // extern "C"
