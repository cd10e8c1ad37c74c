// The naming conventions of KV-cache scales in checkpoints. One table: each producer's suffix and
// the role it plays (sources: docs/checkpoint-scales.md and the notes it cites).
#include "checkpoint_names.hpp"

#include "text.hpp"

namespace kvscale {
namespace loader {
namespace {

struct Suffix {
  std::string_view text;
  ScaleRole role;
};

// clang-format off
constexpr Suffix kSuffixes[] = {
    {"self_attn.k_scale", ScaleRole::k},                // vLLM's names, Quark fp8 export, llm-compressor
    {"self_attn.v_scale", ScaleRole::v},
    {"self_attn.attn.k_scale", ScaleRole::k},           // already-remapped checkpoints
    {"self_attn.attn.v_scale", ScaleRole::v},
    {"self_attn.k_proj.output_scale", ScaleRole::k},    // Quark quark export, older compressed-tensors
    {"self_attn.v_proj.output_scale", ScaleRole::v},
    {"self_attn.k_proj.k_scale", ScaleRole::k},         // ModelOpt
    {"self_attn.v_proj.v_scale", ScaleRole::v},
    {"self_attn.kv_scale", ScaleRole::kv},              // deprecated single scale
    {"self_attn.q_scale", ScaleRole::other},            // Q and softmax scales: reported only
    {"self_attn.q_proj.output_scale", ScaleRole::other},
    {"self_attn.prob_scale", ScaleRole::other},
    {"self_attn.prob_output_scale", ScaleRole::other},
};
// clang-format on

}  // namespace

ScaleName classify_scale_name(std::string_view name) noexcept {
  constexpr std::string_view kLayers = "layers.";
  // Each suffix ends the name, so at most one "layers.<L>." occurrence can match; try them all
  // (a free prefix may itself contain "layers.").
  for (std::size_t at = name.find(kLayers); at != std::string_view::npos; at = name.find(kLayers, at + 1)) {
    const std::size_t digits = at + kLayers.size();
    const std::size_t dot = name.find('.', digits);
    if (dot == std::string_view::npos) return {};
    const std::int64_t layer = canonical_index(name.substr(digits, dot - digits));
    if (layer < 0) continue;
    const std::string_view rest = name.substr(dot + 1);
    for (const Suffix& s : kSuffixes)
      if (rest == s.text) return {s.role, static_cast<std::int32_t>(layer), s.text};
  }
  return {};
}

}  // namespace loader
}  // namespace kvscale
