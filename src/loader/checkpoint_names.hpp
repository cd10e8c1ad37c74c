// Loader-private: which checkpoint tensors are KV-cache scales (docs/checkpoint-scales.md,
// "Which tensors are KV scales").
//
// A name is `<any prefix>layers.<L>.<suffix>` where L is a canonical int32 decimal and the suffix
// ends the name. The prefix is free (model., model.language_model., language_model.model., ...).
#pragma once

#include <cstdint>
#include <string_view>

namespace kvscale {
namespace loader {

enum class ScaleRole : std::uint8_t {
  none,   ///< Not a scale tensor.
  k,      ///< K scale of the layer.
  v,      ///< V scale of the layer.
  kv,     ///< Deprecated self_attn.kv_scale: K and V (vLLM duplicates it).
  other,  ///< Q or softmax scales: recognized and reported, never required.
};

struct ScaleName {
  ScaleRole role = ScaleRole::none;
  std::int32_t layer = -1;
  std::string_view suffix;  ///< the matched suffix, e.g. "self_attn.k_proj.output_scale"
};

/// Classifies a tensor name. role == none when it is not a KV (or Q/prob) scale.
ScaleName classify_scale_name(std::string_view name) noexcept;

/// True for roles that feed the KV table (k, v, kv).
inline bool is_kv_role(ScaleRole r) noexcept { return r == ScaleRole::k || r == ScaleRole::v || r == ScaleRole::kv; }

}  // namespace loader
}  // namespace kvscale
