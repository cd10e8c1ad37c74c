// The scale table, diagnostic names and the file -> device scale conversion. No JSON here: the
// loader (src/loader/) is the only code that parses.
#include <algorithm>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {

const char* diag_code_name(DiagCode c) noexcept {
  switch (c) {
    case DiagCode::file_not_found: return "file_not_found";
    case DiagCode::not_a_regular_file: return "not_a_regular_file";
    case DiagCode::permission_denied: return "permission_denied";
    case DiagCode::read_error: return "read_error";
    case DiagCode::file_too_large: return "file_too_large";
    case DiagCode::nesting_too_deep: return "nesting_too_deep";
    case DiagCode::utf8_bom: return "utf8_bom";
    case DiagCode::invalid_utf8: return "invalid_utf8";
    case DiagCode::trailing_data: return "trailing_data";
    case DiagCode::syntax_error: return "syntax_error";
    case DiagCode::not_an_object: return "not_an_object";
    case DiagCode::nan_or_infinity: return "nan_or_infinity";
    case DiagCode::missing_key: return "missing_key";
    case DiagCode::wrong_type: return "wrong_type";
    case DiagCode::dtype_mismatch: return "dtype_mismatch";
    case DiagCode::rank_missing: return "rank_missing";
    case DiagCode::rank_unexpected: return "rank_unexpected";
    case DiagCode::layer_missing: return "layer_missing";
    case DiagCode::layer_unexpected: return "layer_unexpected";
    case DiagCode::tp_rank_out_of_range: return "tp_rank_out_of_range";
    case DiagCode::model_type_mismatch: return "model_type_mismatch";
    case DiagCode::key_not_canonical: return "key_not_canonical";
    case DiagCode::duplicate_key: return "duplicate_key";
    case DiagCode::scale_not_number: return "scale_not_number";
    case DiagCode::scale_out_of_range: return "scale_out_of_range";
    case DiagCode::too_many_ranks: return "too_many_ranks";
    case DiagCode::too_many_layers: return "too_many_layers";
    case DiagCode::invalid_context: return "invalid_context";
    case DiagCode::out_of_memory: return "out_of_memory";
    case DiagCode::too_many_diagnostics: return "too_many_diagnostics";
    case DiagCode::internal_error: return "internal_error";
    case DiagCode::safetensors_header_invalid: return "safetensors_header_invalid";
    case DiagCode::safetensors_metadata_invalid: return "safetensors_metadata_invalid";
    case DiagCode::safetensors_tensor_invalid: return "safetensors_tensor_invalid";
    case DiagCode::safetensors_offsets_invalid: return "safetensors_offsets_invalid";
    case DiagCode::too_many_tensors: return "too_many_tensors";
    case DiagCode::too_many_files: return "too_many_files";
    case DiagCode::index_invalid: return "index_invalid";
    case DiagCode::shard_path_invalid: return "shard_path_invalid";
    case DiagCode::shard_missing: return "shard_missing";
    case DiagCode::tensor_not_in_shard: return "tensor_not_in_shard";
    case DiagCode::duplicate_scale: return "duplicate_scale";
    case DiagCode::scale_dtype_unsupported: return "scale_dtype_unsupported";
    case DiagCode::scale_shape_invalid: return "scale_shape_invalid";
    case DiagCode::kv_scales_missing: return "kv_scales_missing";
    case DiagCode::no_kv_scales: return "no_kv_scales";
    case DiagCode::scale_granularity_mismatch: return "scale_granularity_mismatch";
    case DiagCode::config_invalid: return "config_invalid";
    case DiagCode::tp_heads_incompatible: return "tp_heads_incompatible";
    case DiagCode::context_mismatch: return "context_mismatch";
    case DiagCode::unknown_key: return "unknown_key";
    case DiagCode::kv_scheme_undeclared: return "kv_scheme_undeclared";
    case DiagCode::scale_not_in_index: return "scale_not_in_index";
    case DiagCode::ranks_differ: return "ranks_differ";
    case DiagCode::scale_outlier: return "scale_outlier";
    case DiagCode::k_v_far_apart: return "k_v_far_apart";
    case DiagCode::scales_mostly_one: return "scales_mostly_one";
  }
  return "unknown";
}

const char* diag_code_rule(DiagCode c) noexcept {
  switch (c) {
    case DiagCode::file_not_found:
    case DiagCode::not_a_regular_file:
    case DiagCode::permission_denied:
    case DiagCode::read_error: return "IO";
    case DiagCode::file_too_large:
    case DiagCode::nesting_too_deep:
    case DiagCode::too_many_ranks:
    case DiagCode::too_many_layers: return "H6";
    case DiagCode::utf8_bom:
    case DiagCode::invalid_utf8:
    case DiagCode::trailing_data:
    case DiagCode::not_an_object: return "H7";
    case DiagCode::nan_or_infinity: return "H4";
    case DiagCode::missing_key:
    case DiagCode::wrong_type: return "V6";
    case DiagCode::dtype_mismatch: return "V1";
    case DiagCode::rank_missing:
    case DiagCode::rank_unexpected: return "V2";
    case DiagCode::layer_missing:
    case DiagCode::layer_unexpected: return "V3";
    case DiagCode::tp_rank_out_of_range: return "V4";
    case DiagCode::model_type_mismatch: return "V5";
    case DiagCode::key_not_canonical: return "H1";
    case DiagCode::duplicate_key: return "H2";
    case DiagCode::scale_not_number: return "H3";
    case DiagCode::scale_out_of_range: return "H5";
    case DiagCode::safetensors_header_invalid: return "S1";
    case DiagCode::safetensors_metadata_invalid: return "S3";
    case DiagCode::safetensors_tensor_invalid: return "S4";
    case DiagCode::safetensors_offsets_invalid: return "S5";
    case DiagCode::too_many_tensors:
    case DiagCode::too_many_files: return "S6";
    case DiagCode::index_invalid:
    case DiagCode::shard_path_invalid:
    case DiagCode::shard_missing:
    case DiagCode::tensor_not_in_shard:
    case DiagCode::scale_not_in_index: return "index";
    case DiagCode::duplicate_scale: return "C1";
    case DiagCode::scale_dtype_unsupported: return "C2";
    case DiagCode::scale_shape_invalid: return "C3";
    case DiagCode::kv_scales_missing: return "C6";
    case DiagCode::no_kv_scales: return "C7";
    case DiagCode::scale_granularity_mismatch: return "C9";
    case DiagCode::config_invalid: return "C10";
    case DiagCode::tp_heads_incompatible: return "TP";
    case DiagCode::kv_scheme_undeclared: return "C8";
    case DiagCode::syntax_error:
    case DiagCode::invalid_context:
    case DiagCode::out_of_memory:
    case DiagCode::too_many_diagnostics:
    case DiagCode::internal_error:
    case DiagCode::context_mismatch:
    case DiagCode::unknown_key:
    case DiagCode::ranks_differ:
    case DiagCode::scale_outlier:
    case DiagCode::k_v_far_apart:
    case DiagCode::scales_mostly_one: return "";
  }
  return "";
}

ScaleTable::ScaleTable(int tp_size, int num_layers, std::vector<float> scales, std::optional<std::string> model_type)
    : tp_size_(tp_size), num_layers_(num_layers), values_(std::move(scales)), model_type_(std::move(model_type)) {
  // K and V of one (rank, layer) share the file's single value.
  entries_.resize(values_.size() * 2);
  for (std::size_t i = 0; i < values_.size(); ++i) {
    entries_[2 * i] = Entry{static_cast<std::uint32_t>(i), 1, 0};
    entries_[2 * i + 1] = entries_[2 * i];
  }
}

ScaleTable::ScaleTable(int tp_size, int num_layers, int heads_per_rank, const std::vector<ScaleEntry>& k,
                       const std::vector<ScaleEntry>& v, std::optional<std::string> model_type)
    : tp_size_(tp_size), num_layers_(num_layers), model_type_(std::move(model_type)) {
  std::size_t total = 0;
  for (const auto& e : k) total += e.values.size();
  for (const auto& e : v) total += e.values.size();
  values_.reserve(total);
  entries_.reserve(k.size() * 2);
  bool any_head = false;
  for (std::size_t i = 0; i < k.size(); ++i) {
    for (const ScaleEntry* e : {&k[i], &v[i]}) {
      const bool head = e->granularity == Granularity::head;
      entries_.push_back(Entry{static_cast<std::uint32_t>(values_.size()), static_cast<std::uint32_t>(e->values.size()),
                               head ? 1u : 0u});
      any_head = any_head || head;
      values_.insert(values_.end(), e->values.begin(), e->values.end());
    }
  }
  heads_per_rank_ = any_head ? heads_per_rank : 0;
}

bool ScaleTable::k_equals_v_per_tensor() const noexcept {
  for (std::size_t i = 0; i + 1 < entries_.size(); i += 2) {
    const Entry& k = entries_[i];
    const Entry& v = entries_[i + 1];
    if (k.head || v.head || values_[k.offset] != values_[v.offset]) return false;
  }
  return true;
}

const char* table_granularity(const ScaleTable& t) noexcept {
  if (t.empty()) return "";
  bool any_tensor = false, any_head = false;
  for (int r = 0; r < t.tp_size(); ++r)
    for (int l = 0; l < t.num_layers(); ++l)
      for (Granularity g : {t.k_granularity(r, l), t.v_granularity(r, l)})
        (g == Granularity::head ? any_head : any_tensor) = true;
  return any_head && any_tensor ? "mixed" : any_head ? "head" : "tensor";
}

std::string diagnostic_location(const Diagnostic& d) { return d.file.empty() ? d.pointer : d.file + ":" + d.pointer; }

std::string format_diagnostic(const Diagnostic& d) {
  std::string s = diagnostic_location(d);
  s += ": ";
  s += diag_code_name(d.code);
  s += ": ";
  s += d.message;
  return s;
}

namespace {
std::string load_error_what(const std::vector<Diagnostic>& diags) {
  if (diags.empty()) return "kv_cache_scales rejected";
  std::string s = "kv_cache_scales rejected: " + format_diagnostic(diags.front());
  if (diags.size() > 1) s += " (and " + std::to_string(diags.size() - 1) + " more)";
  return s;
}
}  // namespace

LoadError::LoadError(std::vector<Diagnostic> diagnostics)
    : std::runtime_error(load_error_what(diagnostics)), diagnostics_(std::move(diagnostics)) {}

float effective_scale(float file_scale, const ScaleConversion& conv) noexcept {
  if (conv.cache_format == Fp8Format::e4m3fnuz && conv.apply_fnuz_factor) return file_scale * 2.0f;
  return file_scale;
}

Status effective_rank_scales(const ScaleTable& table, int rank, LayerRange range, const ScaleConversion& conv,
                             std::vector<float>* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "effective_rank_scales: out is null");
  out->clear();
  try {  // the messages and the vector allocate
    const int n = table.num_layers();
    if (rank < 0 || rank >= table.tp_size())
      return detail::fail(
          Status::invalid_argument,
          "rank " + std::to_string(rank) + " is outside the table's ranks 0.." + std::to_string(table.tp_size() - 1));
    if (range.first < 0 || range.first > n)
      return detail::fail(Status::invalid_argument,
                          "layer range start " + std::to_string(range.first) + " is outside 0.." + std::to_string(n));
    const int count = range.count < 0 ? n - range.first : range.count;
    if (count > n - range.first)
      return detail::fail(Status::invalid_argument, "layer range [" + std::to_string(range.first) + ", " +
                                                        std::to_string(range.first) + "+" + std::to_string(count) +
                                                        ") exceeds the table's " + std::to_string(n) + " layers");
    out->resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i)
      (*out)[static_cast<std::size_t>(i)] = effective_scale(table.scale(rank, range.first + i), conv);
    return Status::success;
  } catch (...) {
    out->clear();
    return detail::fail(Status::out_of_memory, "out of memory");
  }
}

Status effective_scales(const ScaleTable& table, int rank, LayerRange range, const ScaleConversion& conv,
                        EffectiveScales* out) noexcept {
  if (out == nullptr) return detail::fail(Status::invalid_argument, "effective_scales: out is null");
  const int n = table.num_layers();
  if (table.empty() || rank < 0 || rank >= table.tp_size())
    return detail::fail(Status::invalid_argument, "effective_scales: rank " + std::to_string(rank) +
                                                      " is outside the table's " + std::to_string(table.tp_size()) +
                                                      " ranks");
  const int count = range.count < 0 ? n - range.first : range.count;
  if (range.first < 0 || range.first > n || count <= 0 || count > n - range.first)
    return detail::fail(Status::invalid_argument, "effective_scales: layer range [" + std::to_string(range.first) +
                                                      ", +" + std::to_string(count) + ") is empty or outside the " +
                                                      std::to_string(n) + " layers");
  try {
    EffectiveScales e;
    e.first_layer = range.first;
    e.num_layers = count;
    e.head_slots = std::max(1, table.heads_per_rank());
    const std::size_t slots = static_cast<std::size_t>(e.head_slots), half = slots * static_cast<std::size_t>(count);
    e.values.resize(2 * half);
    e.k_stride.resize(static_cast<std::size_t>(count));
    e.v_stride.resize(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
      const int layer = range.first + i;
      const auto put = [&](const float* src, int c, Granularity g, std::size_t at, std::uint8_t* stride) {
        *stride = g == Granularity::head ? 1 : 0;
        for (std::size_t h = 0; h < slots; ++h)
          e.values[at + h] = effective_scale(src[g == Granularity::head && static_cast<int>(h) < c ? h : 0], conv);
      };
      const std::size_t at = static_cast<std::size_t>(i) * slots;
      put(table.k_scales(rank, layer), table.k_count(rank, layer), table.k_granularity(rank, layer), at,
          &e.k_stride[static_cast<std::size_t>(i)]);
      put(table.v_scales(rank, layer), table.v_count(rank, layer), table.v_granularity(rank, layer), half + at,
          &e.v_stride[static_cast<std::size_t>(i)]);
    }
    *out = std::move(e);
    return Status::success;
  } catch (const std::bad_alloc&) {
    return detail::fail(Status::out_of_memory, "effective_scales: out of host memory");
  }
}

}  // namespace kvscale
