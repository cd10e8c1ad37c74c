// Loader-private: what kvscale needs from a checkpoint's config.json (C6..C10).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// The declared KV-cache quantization (docs/checkpoint-scales.md "Declared").
enum class KvStrategy : std::uint8_t { none, tensor, attn_head };

struct CheckpointConfig {
  int num_hidden_layers = 0;
  int num_kv_heads = 0;  ///< num_key_value_heads, else num_attention_heads; 0 when neither.
  std::optional<std::string> model_type;
  std::optional<std::string> producer;  ///< quark, compressed-tensors, modelopt or fp8.
  bool kv_declared = false;             ///< An FP8 KV cache is declared (C6, C8).
  /// kv_cache_scheme.strategy when a kv_cache_scheme is declared ("tensor" when absent).
  KvStrategy strategy = KvStrategy::none;
  std::string scheme_pointer;  ///< where the declaration is, for diagnostics
  /// Per layer: true when the layer has a KV cache (hybrid models mark others, e.g.
  /// layer_types "linear_attention" or layers_block_type "mamba"). Empty = every layer.
  std::vector<bool> attention_layer;
};

/// Reads `dir`/config.json. C10 problems (missing, unreadable, not an object, no positive integer
/// num_hidden_layers, also looked up in text_config) are reported as config_invalid (or the I/O /
/// JSON code of the reader). Returns false when the config cannot drive the checks.
bool read_checkpoint_config(const std::string& dir, const LoadLimits& limits, Sink& sink, CheckpointConfig* out);

}  // namespace loader
}  // namespace kvscale
