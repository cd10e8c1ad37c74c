// kvscale/scales.hpp: load and validate vLLM's kv_cache_scales.json (spec: docs/scales-file.md).
//
// Data flow: file bytes -> loader (the only JSON code) -> diagnostics + ScaleTable -> effective
// per-format scales -> DeviceScales (gpu.hpp). Nothing here throws except the *_or_throw helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "kvscale/export.h"
#include "kvscale/fp8.hpp"

namespace kvscale {

/// Stable diagnostic codes. The string form (diag_code_name) is what tools and tests match on.
/// Rule ids refer to docs/scales-file.md. Never renumber; append only.
enum class DiagCode : std::uint16_t {
  // I/O
  file_not_found = 1,  ///< The path does not exist.
  not_a_regular_file,  ///< A directory, device or other non-file.
  permission_denied,   ///< The file cannot be opened for reading.
  read_error,          ///< Reading failed part-way.
  // H6 / H7: bytes and syntax
  file_too_large,    ///< H6: more than max_file_bytes; refused before reading.
  nesting_too_deep,  ///< H6: JSON nesting deeper than max_depth.
  utf8_bom,          ///< H7: the file starts with a UTF-8 byte order mark.
  invalid_utf8,      ///< H7: a byte sequence that is not UTF-8 (also a lone \uD800-style surrogate escape).
  trailing_data,     ///< H7: bytes after the top-level JSON value.
  syntax_error,      ///< Not JSON (also: an empty file).
  not_an_object,     ///< H7: the top-level value is not an object.
  nan_or_infinity,   ///< H4: a NaN, Infinity or -Infinity token.
  // V6: structure
  missing_key,  ///< V6: a required key (model_type, kv_cache, dtype, scaling_factor) is absent.
  wrong_type,   ///< V6: a value of the wrong JSON type (e.g. kv_cache is an array).
  // V1..V5
  dtype_mismatch,        ///< V1: kv_cache.dtype is not "float8_e4m3fn".
  rank_missing,          ///< V2: a rank in 0..tp_size-1 (or 0..n-1 without context) is absent.
  rank_unexpected,       ///< V2: a rank outside 0..tp_size-1.
  layer_missing,         ///< V3: a layer in 0..L-1 is absent from a rank.
  layer_unexpected,      ///< V3: a layer outside 0..L-1.
  tp_rank_out_of_range,  ///< V4: the context's tp_rank is not in 0..tp_size-1.
  model_type_mismatch,   ///< V5: the file's model_type differs from the context's (or is null).
  // H1..H6: hardened checks
  key_not_canonical,   ///< H1: a rank or layer key that is not a canonical int32 decimal.
  duplicate_key,       ///< H2: the same key twice in one object.
  scale_not_number,    ///< H3: a scale that is a string, bool, null, array or object.
  scale_out_of_range,  ///< H5: a scale that is not finite and > 0 once rounded to float32.
  too_many_ranks,      ///< H6: more than max_ranks ranks (or tp_size above it).
  too_many_layers,     ///< H6: more than max_layers layers (or num_hidden_layers above it).
  // Context and library
  invalid_context,       ///< The caller's context itself is invalid (tp_size <= 0, ...).
  out_of_memory,         ///< The host ran out of memory while loading.
  too_many_diagnostics,  ///< The diagnostic list was capped; more problems exist.
};

/// Stable snake_case name of a code, e.g. "layer_missing".
KVSCALE_EXPORT const char* diag_code_name(DiagCode c) noexcept;
/// The spec rule a code enforces ("V3", "H5", ...), or "IO" / "" for the others.
KVSCALE_EXPORT const char* diag_code_rule(DiagCode c) noexcept;

/// One problem found in a scales file.
struct Diagnostic {
  DiagCode code;
  std::string pointer;  ///< RFC 6901 pointer; for a missing key, the parent object ("" = root).
  std::string message;  ///< One line: what was expected and what was found.
};

/// What the server knows (spec "Context"). Without a context, only self-consistency is checked.
struct LoadContext {
  int tp_size = 1;
  int tp_rank = 0;
  int num_hidden_layers = 0;
  std::optional<std::string> model_type;  ///< Checked only when set (V5).
};

/// Resource limits (H6). The defaults are the spec's; they may only be lowered (larger values are
/// clamped to the defaults).
struct LoadLimits {
  std::uint64_t max_file_bytes = 16u << 20;
  int max_depth = 64;
  int max_ranks = 65536;
  int max_layers = 65536;
  std::size_t max_diagnostics = 100;
};

/// What to do when the file is rejected.
enum class FailurePolicy {
  error,          ///< Default: no table; the caller must handle the diagnostics.
  unit_fallback,  ///< vLLM's behaviour, opt-in: all scales 1.0 (needs a valid context; without one the
                  ///< table stays empty and used_fallback false); diagnostics kept.
};

struct LoadOptions {
  std::optional<LoadContext> context;
  FailurePolicy on_failure = FailurePolicy::error;
  LoadLimits limits;
};

/// The validated scales of every rank: scale(rank, layer) is the file's value as float32
/// (decimal -> nearest double -> nearest float32), in the e4m3fn convention real ~= fp8 * scale.
/// Immutable; cheap to copy for realistic sizes (tp_size * num_layers floats).
class KVSCALE_EXPORT ScaleTable {
 public:
  ScaleTable() = default;
  /// Builds a table from row-major [tp_size][num_layers] scales. No validation: the loader is the
  /// validating layer. Precondition: scales.size() == tp_size * num_layers.
  ScaleTable(int tp_size, int num_layers, std::vector<float> scales, std::optional<std::string> model_type);

  int tp_size() const noexcept { return tp_size_; }
  int num_layers() const noexcept { return num_layers_; }
  bool empty() const noexcept { return scales_.empty(); }
  const std::optional<std::string>& model_type() const noexcept { return model_type_; }
  /// Precondition: 0 <= rank < tp_size(), 0 <= layer < num_layers().
  float scale(int rank, int layer) const noexcept {
    return scales_[static_cast<std::size_t>(rank) * static_cast<std::size_t>(num_layers_) +
                   static_cast<std::size_t>(layer)];
  }
  /// num_layers() contiguous floats of one rank. Precondition: 0 <= rank < tp_size().
  const float* rank_data(int rank) const noexcept {
    return scales_.data() + static_cast<std::size_t>(rank) * static_cast<std::size_t>(num_layers_);
  }

 private:
  int tp_size_ = 0;
  int num_layers_ = 0;
  std::vector<float> scales_;
  std::optional<std::string> model_type_;
};

/// Outcome of a load. `ok()` means the file was accepted; `table` is then complete. With
/// FailurePolicy::unit_fallback and a rejected file, `used_fallback` is true and `table` holds 1.0
/// for every rank and layer of the context, while `diagnostics` still says why.
struct LoadResult {
  ScaleTable table;
  /// Errors: context problems first, then per-value problems in file order, then the missing-key and
  /// rank/layer set checks (V2/V3). At most limits.max_diagnostics, plus one too_many_diagnostics.
  /// A parse-level problem (syntax, H6 depth, H7) stops the checks that would follow it.
  std::vector<Diagnostic> diagnostics;
  std::vector<std::string> warnings;  ///< Non-fatal notes, e.g. "unknown key /kv_cache/foo".
  bool used_fallback = false;
  bool ok() const noexcept { return diagnostics.empty(); }
};

/// Loads and validates a scales file. Never throws; I/O problems become diagnostics
/// (file_not_found, not_a_regular_file, permission_denied, read_error, file_too_large).
KVSCALE_EXPORT LoadResult load_scales_file(const std::string& path, const LoadOptions& options = {}) noexcept;

/// Validates in-memory bytes (the same checks as load_scales_file, minus the I/O ones).
KVSCALE_EXPORT LoadResult load_scales_json(std::string_view bytes, const LoadOptions& options = {}) noexcept;

/// Thrown by the convenience helpers below; carries every diagnostic.
class KVSCALE_EXPORT LoadError : public std::runtime_error {
 public:
  explicit LoadError(std::vector<Diagnostic> diagnostics);
  const std::vector<Diagnostic>& diagnostics() const noexcept { return diagnostics_; }

 private:
  std::vector<Diagnostic> diagnostics_;
};

/// Throwing convenience: the validated table, or LoadError. Never falls back.
KVSCALE_EXPORT ScaleTable load_scales_file_or_throw(const std::string& path, const LoadContext& context);

/// Formats a diagnostic as "pointer: code: message" (the CLI prefixes "FILE:"); the root pointer is
/// empty, giving ": code: message".
KVSCALE_EXPORT std::string format_diagnostic(const Diagnostic& d);

// ------------------------------------------------------------------------------------------------
// From the file to the device (spec "From the file to the device").

/// How a file scale becomes the scale a cache of a given format uses.
struct ScaleConversion {
  Fp8Format cache_format = Fp8Format::e4m3fn;
  /// The files are calibrated for e4m3fn; the same bits are worth half as much in fnuz, so an
  /// e4m3fnuz cache uses 2 x the file scale (exact). Turn off only for files already in fnuz terms.
  bool apply_fnuz_factor = true;
};

/// The scale a cache of `conv.cache_format` must use for `file_scale`: file_scale * 2 for
/// e4m3fnuz (unless disabled), file_scale otherwise. Exact (a power-of-two multiply).
KVSCALE_EXPORT float effective_scale(float file_scale, const ScaleConversion& conv) noexcept;

/// Layers [first, first + count) of one rank, for pipeline parallelism. count < 0 means "to the end".
struct LayerRange {
  int first = 0;
  int count = -1;
};

/// The effective scales of one rank over a layer range. Returns Status-like false (empty vector and
/// a message in *error) when rank or range is outside the table.
KVSCALE_EXPORT bool effective_rank_scales(const ScaleTable& table, int rank, LayerRange range,
                                          const ScaleConversion& conv, std::vector<float>* out,
                                          std::string* error = nullptr);

}  // namespace kvscale
