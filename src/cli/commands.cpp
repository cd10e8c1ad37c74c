// The command table and the parts of every command that main.cpp runs for it.
#include "commands.hpp"

#include <cstdio>

#include "context.hpp"

namespace kvscale {
namespace cli {

// clang-format off
const Command kCommands[] = {
    {"validate", cmd_validate, "validate PATH",
     "check a scales file or a checkpoint's K/V scales (exit 0 valid, 1 rejected, 2 usage)", kValidateUsage,
     {KVSCALE_CLI_CONTEXT_OPTIONS}, {"--json"}, "FILE", 1, 1},
    {"inspect", cmd_inspect, "inspect PATH", "K and V statistics per rank, per layer and head, and warnings",
     kInspectUsage, {KVSCALE_CLI_CONTEXT_OPTIONS}, {"--ascii"}, "FILE", 1, 1},
    {"convert", cmd_convert, "convert SRC OUT", "write the scales as kv_cache_scales.json or a .safetensors",
     kConvertUsage, {"--merge"}, {"--force"}, "SRC and OUT", 2, 2},
    {"roundtrip", cmd_roundtrip, "roundtrip [FILE]",
     "quantize synthetic K/V into a paged FP8 cache and back, per layer", kRoundtripUsage,
     {KVSCALE_CLI_CONTEXT_OPTIONS, "--format", "--backend", "--tokens", "--kv-heads",
      "--head-size", "--block-size", "--dtype", "--seed", "--layout", "--calibrate"},
     {"--json", "--force"}, "FILE", 0, 1},
    {"bench", cmd_bench, "bench", "benchmark the backends against memcpy and a naive baseline", kBenchUsage,
     {"--json-out", "--threads", "--isa"}, {"--quick"}, "", 0, 0},
    {nullptr, nullptr, nullptr, nullptr, nullptr, {}, {}, nullptr, 0, 0},
};
// clang-format on

const Command* find_command(const std::string& name) {
  for (const Command* c = kCommands; c->name != nullptr; ++c)
    if (name == c->name) return c;
  return nullptr;
}

int usage_error(const Args& args, const std::string& message) {
  const Command* c = find_command(args.command);
  std::fprintf(stderr, "kvscale %s: %s\n\n%s", args.command.c_str(), message.c_str(), c ? c->usage : "");
  return kExitUsage;
}

}  // namespace cli
}  // namespace kvscale
