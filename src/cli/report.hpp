// CLI-private: what validate prints, as functions of a LoadResult (unit-tested in tests/cli).
#pragma once

#include <cstdio>
#include <optional>
#include <string>

#include "kvscale/scales.hpp"

namespace kvscale {
namespace cli {

/// What the command line asked for, as far as the report shows it.
struct ReportContext {
  std::optional<LoadContext> context;  ///< The context passed to the loader, if any.
  bool tp_given = false;               ///< --tp-size/--tp-rank were given (checkpoint: one rank shown).
};

/// `validate --json` for a scales file: valid, source, model_type, tp_size, num_layers, tp_rank,
/// scales, diagnostics, warnings (one line, no newline).
std::string scales_file_json(const LoadResult& r, const ReportContext& c);

/// `validate --json` for a checkpoint or .safetensors (docs/checkpoint-scales.md, "CLI contract"):
/// valid, source, producer, model_type, num_layers, num_kv_heads, tp_size, tp_rank, granularity,
/// k_scales, v_scales, diagnostics, warnings (one line, no newline).
std::string checkpoint_json(const LoadResult& r, const ReportContext& c);

/// What `kvscale inspect PATH` prints for a load result (cmd_inspect.cpp): the diagnostics when
/// rejected, else per rank the K and V statistics, sparklines or layers x heads rows, and warnings.
void inspect_report(std::FILE* out, const std::string& path, const LoadResult& r, bool unicode);

/// "scales_file", "checkpoint" or "safetensors".
const char* source_name(SourceKind s) noexcept;

/// "8 KV heads", "1 KV head", or "KV heads unknown" (0: a bare .safetensors has no config.json).
std::string kv_heads_text(int num_kv_heads);

/// The model_type for the one-line summaries: the name; "null" for a scales file that says null
/// (the file's own literal); "unknown" for a checkpoint source without one (no config.json).
const char* model_type_text(const LoadResult& r) noexcept;

}  // namespace cli
}  // namespace kvscale
