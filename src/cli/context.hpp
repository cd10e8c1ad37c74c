// CLI-private: the server context options shared by validate, inspect and roundtrip
// (--tp-size, --tp-rank, --num-layers, --model-type).
#pragma once

#include <optional>
#include <string>

#include "args.hpp"
#include "kvscale/scales.hpp"

namespace kvscale {
namespace cli {

/// The value options parse_context() reads, for the command table.
#define KVSCALE_CLI_CONTEXT_OPTIONS "--tp-size", "--tp-rank", "--num-layers", "--model-type"

/// True when load_scales() will treat `path` as a checkpoint: a directory or a *.safetensors file.
bool is_checkpoint_path(const std::string& path);

/// Reads the context options. A value that is not a number in range (tp-size >= 1, tp-rank >= 0,
/// num-layers >= 1) or a combination the source does not allow is a usage error: returns false
/// with the message in *error. Cross-checks (tp-rank < tp-size, agreement with the file or
/// config.json) are the loader's, and become diagnostics.
///
/// Scales file: all of --tp-size, --tp-rank and --num-layers, or none; --model-type needs them.
/// Checkpoint: --tp-size and --tp-rank together, --num-layers and --model-type optional (the
/// number of layers defaults to config.json's); any of them makes a context.
bool parse_context(const Args& args, bool checkpoint, std::optional<LoadContext>* context, std::string* error);

}  // namespace cli
}  // namespace kvscale
