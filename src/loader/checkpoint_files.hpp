// Loader-private: the files of a checkpoint and the scale tensors in them.
//
// A directory is config.json plus either model.safetensors or model.safetensors.index.json and
// the shards its weight_map names (the index is authoritative). A bare .safetensors file is read
// alone. Only headers are parsed; only scale tensors are kept (checkpoint_names.hpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "checkpoint_names.hpp"
#include "kvscale/scales.hpp"
#include "safetensors.hpp"
#include "sink.hpp"

namespace kvscale {
namespace loader {

/// One scale tensor that the checks use.
struct ScaleTensor {
  ScaleName name;
  const StTensor* tensor;       ///< in `file`'s header
  const SafetensorsFile* file;  ///< open, for the positioned read of its bytes
  std::string label;            ///< file name relative to the checkpoint directory
};

struct CheckpointFiles {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  std::vector<ScaleTensor> scales;  ///< KV and Q/prob scales, in file then header order
  std::string weights_label;        ///< "model.safetensors", the index, or the bare file's name
};

/// Opens the weights of a checkpoint directory (single file or index + shards) and collects its
/// scale tensors. Returns false when a file or the index is rejected (diagnostics in `sink`).
bool open_checkpoint_dir(const std::string& dir, const LoadLimits& limits, Sink& sink,
                         std::vector<Diagnostic>* warnings, CheckpointFiles* out);

/// Opens one .safetensors file; its label is the file's base name.
bool open_safetensors_file(const std::string& path, const LoadLimits& limits, Sink& sink, CheckpointFiles* out);

}  // namespace loader
}  // namespace kvscale
