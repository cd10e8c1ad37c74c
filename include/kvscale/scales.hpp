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
#include "kvscale/status.hpp"

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
  internal_error,        ///< A bug in kvscale (an unexpected exception); please report it.
  // Checkpoints (docs/checkpoint-scales.md). Safetensors container, S rules:
  safetensors_header_invalid,    ///< S1: header length, size or top level (also truncated files).
  safetensors_metadata_invalid,  ///< S3: __metadata__ is not an object of string -> string.
  safetensors_tensor_invalid,    ///< S4: a tensor entry without a known dtype, valid shape or data_offsets.
  safetensors_offsets_invalid,   ///< S5: size != numel x dtype size, or a gap / overlap / tail in the buffer.
  too_many_tensors,              ///< S6: more than max_tensors tensors in one file.
  too_many_files,                ///< S6: more than max_files shards in an index.
  // The index
  index_invalid,        ///< The index is not {"weight_map": {name: file}} (wrong types, missing key).
  shard_path_invalid,   ///< A shard name with '/', '\\', "..", NUL, or absolute: never opened.
  shard_missing,        ///< A shard the index names does not exist or is not a regular file.
  tensor_not_in_shard,  ///< The index assigns a scale tensor to a shard whose header lacks it.
  // C rules
  duplicate_scale,             ///< C1: two tensors give the same layer's K (or V).
  scale_dtype_unsupported,     ///< C2: a scale tensor that is not F32, F16, BF16 or F64.
  scale_shape_invalid,         ///< C3: neither one element nor [H] / [H,1,1].
  kv_scales_missing,           ///< C6: the config declares an FP8 KV cache but there are no scales.
  no_kv_scales,                ///< C7: no declaration and no scales.
  scale_granularity_mismatch,  ///< C9: kv_cache_scheme.strategy disagrees with the tensors' shapes.
  config_invalid,              ///< C10: config.json missing, unreadable, not an object, no num_hidden_layers.
  tp_heads_incompatible,       ///< Per-head scales whose H is neither a multiple nor a divisor of tp_size.
  context_mismatch,            ///< The caller's context disagrees with config.json (num_hidden_layers, heads).
  // Warnings (LoadResult::warnings only)
  unknown_key,           ///< A key the schema does not know (ignored, as vLLM does).
  kv_scheme_undeclared,  ///< C8: scales without an FP8 KV-cache declaration in config.json.
  scale_not_in_index,    ///< A scale tensor in a shard that the index does not list (ignored).
  ranks_differ,          ///< Ranks of a scales file whose scales differ (inspect).
  scale_outlier,         ///< A scale more than 10x from the median (inspect).
  k_v_far_apart,         ///< K and V of a layer more than 10x apart (inspect).
  scales_mostly_one,     ///< Most scales are exactly 1.0: likely uncalibrated (ModelOpt clamps to >= 1).
};

/// Stable snake_case name of a code, e.g. "layer_missing".
KVSCALE_EXPORT const char* diag_code_name(DiagCode c) noexcept;
/// The spec rule a code enforces ("V3", "H5", ...), or "IO" / "" for the others.
KVSCALE_EXPORT const char* diag_code_rule(DiagCode c) noexcept;

/// One problem found in a scales file or a checkpoint.
struct Diagnostic {
  DiagCode code;
  std::string pointer;  ///< RFC 6901 pointer; for a missing key, the parent object ("" = root).
  std::string message;  ///< One line: what was expected and what was found.
  /// For checkpoints: the file the pointer points into, relative to the checkpoint directory
  /// ("config.json", "model-00001-of-00002.safetensors"); empty for a scales file, and for the
  /// too_many_diagnostics marker, which is about the whole list rather than one file.
  std::string file = {};
};

/// "FILE:POINTER" for a checkpoint diagnostic, the pointer alone otherwise.
KVSCALE_EXPORT std::string diagnostic_location(const Diagnostic& d);

/// What the server knows (spec "Context"). Without a context, only self-consistency is checked.
/// For a checkpoint, num_hidden_layers 0 means "take it from config.json"; any other value must
/// agree with the config (context_mismatch).
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
  // Checkpoints (S1, S6).
  std::uint64_t max_header_bytes = 100000000;  ///< S1: one safetensors header.
  std::uint64_t max_config_bytes = 16u << 20;  ///< config.json.
  std::uint64_t max_index_bytes = 64u << 20;   ///< model.safetensors.index.json.
  std::int64_t max_tensors = 1000000;          ///< S6: tensors in one file.
  std::int64_t max_files = 100000;             ///< S6: shards in an index.
  int max_heads = 65536;                       ///< KV heads of a per-head scale.
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

/// Per tensor (one float) or per KV head (one float per head of the rank).
enum class Granularity : std::uint8_t { tensor = 0, head = 1 };

/// One K or V scale of one layer of one rank: 1 value per tensor, heads_per_rank values per head.
struct ScaleEntry {
  Granularity granularity = Granularity::tensor;
  std::vector<float> values;
};

/// The validated scales of every rank. Per rank and layer it holds a K and a V scale, each per
/// tensor or per KV head (heads_per_rank() floats, the rank's share of the KV heads). Values are the
/// source's, as float32, in the e4m3fn convention real ~= fp8 * scale (no fnuz factor).
///
/// A kv_cache_scales.json maps in with K = V, per tensor. A checkpoint without a context gives one
/// rank holding every head; with a context, tp_size ranks, each with its share of the heads.
/// Immutable; cheap to copy for realistic sizes.
class KVSCALE_EXPORT ScaleTable {
 public:
  ScaleTable() = default;
  /// v1: row-major [tp_size][num_layers] scales, K = V, per tensor. No validation: the loader is the
  /// validating layer. Precondition: scales.size() == tp_size * num_layers.
  ScaleTable(int tp_size, int num_layers, std::vector<float> scales, std::optional<std::string> model_type);
  /// v2: k[rank * num_layers + layer] (likewise v). Preconditions: k.size() == v.size() ==
  /// tp_size * num_layers; a per-tensor entry has 1 value, a per-head entry heads_per_rank (>= 1).
  ScaleTable(int tp_size, int num_layers, int heads_per_rank, const std::vector<ScaleEntry>& k,
             const std::vector<ScaleEntry>& v, std::optional<std::string> model_type);

  int tp_size() const noexcept { return tp_size_; }
  int num_layers() const noexcept { return num_layers_; }
  /// KV heads of one rank for per-head entries; 0 when every entry is per tensor.
  int heads_per_rank() const noexcept { return heads_per_rank_; }
  bool empty() const noexcept { return entries_.empty(); }
  const std::optional<std::string>& model_type() const noexcept { return model_type_; }
  /// True when every K equals its V and every entry is per tensor (what kv_cache_scales.json holds).
  bool k_equals_v_per_tensor() const noexcept;

  /// Preconditions for the accessors below: 0 <= rank < tp_size(), 0 <= layer < num_layers().
  Granularity k_granularity(int rank, int layer) const noexcept { return entry(rank, layer, 0).granularity(); }
  Granularity v_granularity(int rank, int layer) const noexcept { return entry(rank, layer, 1).granularity(); }
  /// The K (V) scales of a layer: k_count() floats, 1 per tensor or heads_per_rank() per head.
  const float* k_scales(int rank, int layer) const noexcept { return values_.data() + entry(rank, layer, 0).offset; }
  const float* v_scales(int rank, int layer) const noexcept { return values_.data() + entry(rank, layer, 1).offset; }
  int k_count(int rank, int layer) const noexcept { return static_cast<int>(entry(rank, layer, 0).count); }
  int v_count(int rank, int layer) const noexcept { return static_cast<int>(entry(rank, layer, 1).count); }
  /// v1 accessor: the per-tensor K scale (== V for a scales file). For a per-head K, head 0.
  float scale(int rank, int layer) const noexcept { return *k_scales(rank, layer); }

 private:
  struct Entry {
    std::uint32_t offset;
    std::uint32_t count;
    std::uint32_t head;  ///< 1 when per head (a rank may hold a single head: count alone can't tell).
    Granularity granularity() const noexcept { return head ? Granularity::head : Granularity::tensor; }
  };
  const Entry& entry(int rank, int layer, int kv) const noexcept {
    return entries_[(static_cast<std::size_t>(rank) * static_cast<std::size_t>(num_layers_) +
                     static_cast<std::size_t>(layer)) *
                        2 +
                    static_cast<std::size_t>(kv)];
  }
  int tp_size_ = 0;
  int num_layers_ = 0;
  int heads_per_rank_ = 0;
  std::vector<Entry> entries_;  ///< [rank][layer][K, V]
  std::vector<float> values_;
  std::optional<std::string> model_type_;
};

/// Where scales came from.
enum class SourceKind : std::uint8_t {
  scales_file,  ///< vLLM's kv_cache_scales.json (docs/scales-file.md).
  checkpoint,   ///< A checkpoint directory: config.json + model.safetensors or an index and shards.
  safetensors,  ///< One .safetensors file without a config (self-consistency only).
};

/// Outcome of a load. `ok()` means the source was accepted; `table` is then complete. With
/// FailurePolicy::unit_fallback and a rejected source, `used_fallback` is true and `table` holds 1.0
/// for every rank and layer of the context, while `diagnostics` still says why.
struct LoadResult {
  ScaleTable table;
  /// Errors: context problems first, then per-value problems in file order, then the missing-key and
  /// rank/layer set checks (V2/V3). At most limits.max_diagnostics, plus one too_many_diagnostics.
  /// A parse-level problem (syntax, H6 depth, H7) stops the checks that would follow it.
  std::vector<Diagnostic> diagnostics;
  /// Non-fatal notes with a code of their own (unknown_key, kv_scheme_undeclared, ...).
  /// (Before 0.2 these were plain strings; format_diagnostic() gives the old text.)
  std::vector<Diagnostic> warnings;
  bool used_fallback = false;
  SourceKind source = SourceKind::scales_file;
  /// Checkpoints: "quark", "compressed-tensors", "modelopt" or "fp8" from config.json's
  /// quantization_config.quant_method; empty when unknown or for a scales file.
  std::optional<std::string> producer;
  /// Checkpoints: num_key_value_heads (else num_attention_heads) of the config, or the common
  /// per-head length of a bare .safetensors file; 0 when unknown.
  int num_kv_heads = 0;
  bool ok() const noexcept { return diagnostics.empty(); }
};

/// Loads and validates a scales file. Never throws; I/O problems become diagnostics
/// (file_not_found, not_a_regular_file, permission_denied, read_error, file_too_large).
KVSCALE_EXPORT LoadResult load_scales_file(const std::string& path, const LoadOptions& options = {}) noexcept;

/// Validates in-memory bytes (the same checks as load_scales_file, minus the I/O ones).
KVSCALE_EXPORT LoadResult load_scales_json(std::string_view bytes, const LoadOptions& options = {}) noexcept;

/// Loads K/V scales from a checkpoint directory (config.json + model.safetensors, or
/// model.safetensors.index.json and its shards) or from one .safetensors file
/// (docs/checkpoint-scales.md). Reads headers and the scale tensors' bytes only, never weights.
/// Never throws; every S, C and index rule gives a diagnostic whose `file` names the file.
KVSCALE_EXPORT LoadResult load_checkpoint(const std::string& path, const LoadOptions& options = {}) noexcept;

/// Any source: a directory or a *.safetensors file goes to load_checkpoint(), anything else to
/// load_scales_file().
KVSCALE_EXPORT LoadResult load_scales(const std::string& path, const LoadOptions& options = {}) noexcept;

/// "tensor", "head" or "mixed" (K and V or layers differ) for a loaded table; "" when empty.
KVSCALE_EXPORT const char* table_granularity(const ScaleTable& table) noexcept;

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

/// Formats a diagnostic as "location: code: message" (the CLI prefixes the path it was given); the
/// root pointer is empty, giving ": code: message". The location is diagnostic_location(d).
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

/// One rank's effective scales as DeviceScales uploads them. Layout (floats):
///   [K | V][layer in range][slot in 0..head_slots-1]
/// head_slots = max(1, table.heads_per_rank()). A per-tensor entry fills all its slots with the
/// one value (kernels read it with stride 0); a per-head entry holds head h in slot h (stride 1).
struct EffectiveScales {
  int first_layer = 0;
  int num_layers = 0;
  int head_slots = 1;
  std::vector<float> values;           ///< 2 * num_layers * head_slots floats, fnuz factor applied
  std::vector<std::uint8_t> k_stride;  ///< per layer in range: 0 (per tensor) or 1 (per head)
  std::vector<std::uint8_t> v_stride;
};

/// Builds the effective scales of `rank` over `range` for `conv`. Errors: invalid_argument (rank or
/// range outside the table, empty range, empty table), out_of_memory.
KVSCALE_EXPORT Status effective_scales(const ScaleTable& table, int rank, LayerRange range, const ScaleConversion& conv,
                                       EffectiveScales* out) noexcept;

/// v1: the effective per-tensor K scales (== V for a scales file) of one rank over a layer range
/// (for per-head entries, head 0: use effective_scales()). An empty range at the end gives an
/// empty vector. Errors (*out left empty, last_error_message() says why): invalid_argument (out is
/// null, rank or range outside the table), out_of_memory.
KVSCALE_EXPORT Status effective_rank_scales(const ScaleTable& table, int rank, LayerRange range,
                                            const ScaleConversion& conv, std::vector<float>* out) noexcept;

// ------------------------------------------------------------------------------------------------
// Writers (kvscale convert, calibration).

/// How K != V, per-head or rank-dependent scales are folded into a format that cannot hold them.
enum class MergePolicy : std::uint8_t {
  none,  ///< Refuse (Status::invalid_argument) when the target cannot hold the table exactly.
  max,   ///< Take the maximum (the conservative choice: no value saturates that did not before).
};

struct WriteOptions {
  MergePolicy merge = MergePolicy::none;
  bool force = false;  ///< Overwrite an existing file. Without it an existing OUT is an error.
};

/// Writes vLLM's kv_cache_scales.json (one scale per rank and layer, K = V, per tensor). Scales are
/// printed with %.9g, so the file loads back to the same float32 bits. Atomic: a temporary file in
/// the same directory, then rename(). Errors: invalid_argument (empty table, K != V or per head
/// without MergePolicy::max, OUT exists without force), internal_error / out_of_memory;
/// last_error_message() says which.
KVSCALE_EXPORT Status write_scales_json(const ScaleTable& table, const std::string& path,
                                        const WriteOptions& options = {}) noexcept;

/// Writes a scales-only .safetensors with vLLM's names (model.layers.N.self_attn.k_scale / v_scale),
/// F32, shape [] per tensor or [H] per head, for rank 0 of the table (ranks must agree, or
/// MergePolicy::max merges them). Atomic as above. Errors as for write_scales_json.
KVSCALE_EXPORT Status write_scales_safetensors(const ScaleTable& table, const std::string& path,
                                               const WriteOptions& options = {}) noexcept;

}  // namespace kvscale
