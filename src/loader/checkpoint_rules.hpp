// Loader-private: the C rules over a checkpoint's scale tensors, and the tensor-parallel split.
#pragma once

#include <optional>
#include <vector>

#include "checkpoint_config.hpp"
#include "checkpoint_files.hpp"
#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// Per layer, the K and V scales of every head (not yet split by rank).
struct CheckpointScales {
  int num_layers = 0;
  int num_heads = 0;  ///< H of per-head entries (config, or the common length in a bare file)
  std::vector<ScaleEntry> k, v;
};

/// Applies C1..C5 and C9 (C6..C8 with a config) to the scale tensors and reads their values.
/// `config` is null for a bare .safetensors file. Returns false when any rule fails.
bool check_scales(const CheckpointFiles& files, const CheckpointConfig* config, const LoadLimits& limits, Sink& sink,
                  std::vector<Diagnostic>* warnings, CheckpointScales* out);

/// Splits per-head scales over tp_size ranks as vLLM splits KV heads (H % T == 0: contiguous
/// slices; T % H == 0: rank r gets head r / (T / H); otherwise tp_heads_incompatible).
bool split_for_tp(const CheckpointScales& scales, int tp_size, std::optional<std::string> model_type, Sink& sink,
                  ScaleTable* out);

}  // namespace loader
}  // namespace kvscale
