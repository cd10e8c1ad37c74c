// Loader-private: the kv_cache_scales.json schema, checked as the document streams through the
// shared SAX layer (json_sax.hpp). No DOM is built: only the scales (8 bytes per layer) and the
// facts the later set checks (set_checks.hpp) need are kept, in a ParsedDocument.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

struct LayerEntry {
  std::int32_t layer;
  float value;
};

/// One rank object of scaling_factor, in file order.
struct RankData {
  std::int32_t rank = -1;
  bool is_object = true;
  bool noncanonical_layers = false;  ///< Some layer key failed H1: the V3 check of this rank is skipped.
  std::vector<LayerEntry> layers;    ///< Canonical, in-range layer keys only.
};

/// What the validator keeps of a scales file for the required-key (V6) and set (V2/V3) checks.
struct ParsedDocument {
  bool has_model_type = false;
  bool has_kv_cache = false;
  bool kv_cache_object = false;
  bool has_dtype = false;
  bool has_scaling_factor = false;
  bool scaling_factor_object = false;
  bool noncanonical_ranks = false;  ///< Some rank key failed H1: the V2 check is skipped.
  std::optional<std::string> model_type;
  std::vector<RankData> ranks;  ///< Canonical, in-range rank keys only, in file order.
};

/// Parses `bytes` (see parse_json_text() for `writable`) and checks H1-H7, V1, V5, V6 types and,
/// with a context (`ctx`, null when absent or unusable), the rank and layer ranges. Unknown keys
/// become warnings (at most limits.max_diagnostics). Returns false when a parse-level problem
/// stopped the checks; *doc is then incomplete and the checks that follow must not run.
bool validate_scales_json(std::string_view bytes, std::string* writable, const LoadLimits& limits,
                          const LoadContext* ctx, Sink& sink, std::vector<Diagnostic>& warnings, ParsedDocument* doc);

}  // namespace loader
}  // namespace kvscale
