// Loader-private: the checks that need the whole scales file (required keys, V2/V3 sets) and the
// table they guard.
#pragma once

#include <optional>

#include "kvscale/scales.hpp"
#include "scales_validator.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// V6: model_type and kv_cache at the top level, dtype and scaling_factor in kv_cache. The
/// pointer of a missing key names its parent object.
void check_required_keys(const ParsedDocument& doc, Sink& sink);

/// V2/V3 against the context (`ctx`, null when absent or unusable) or, without one, the file's
/// own 0..n-1 ranks and 0..L-1 layers. When the sink is still empty afterwards, the table;
/// otherwise nothing. Consumes doc.ranks.
std::optional<ScaleTable> check_sets_and_build(ParsedDocument& doc, const LoadContext* ctx, Sink& sink);

}  // namespace loader
}  // namespace kvscale
