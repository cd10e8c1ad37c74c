// kvscale: command-line entry point. Dispatches to the subcommands in cmd_*.cpp.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "kvscale/version.hpp"

namespace {

const char kUsage[] =
    "usage: kvscale <command> [options]\n"
    "\n"
    "Loads, validates and applies vLLM kv_cache_scales.json files for an FP8 KV cache.\n"
    "\n"
    "commands:\n"
    "  validate FILE   check a scales file against the spec (exit 0 valid, 1 rejected, 2 usage)\n"
    "  inspect FILE    per-rank statistics, a per-layer view and warnings\n"
    "  roundtrip [FILE] quantize synthetic K/V into a paged FP8 cache and back, per layer\n"
    "  bench           benchmark the backends against memcpy and a naive baseline\n"
    "\n"
    "Run 'kvscale <command> --help' for a command's options. 'kvscale --version' prints the version.\n";

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::fputs(kUsage, stderr);
      return kvscale::cli::kExitUsage;
    }
    const std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::fputs(kUsage, stdout);
      return kvscale::cli::kExitOk;
    }
    if (cmd == "--version") {
      std::printf("kvscale %s\n", KVSCALE_VERSION_STRING);
      return kvscale::cli::kExitOk;
    }
    if (cmd == "validate") return kvscale::cli::cmd_validate(argc, argv);
    if (cmd == "inspect") return kvscale::cli::cmd_inspect(argc, argv);
    if (cmd == "roundtrip") return kvscale::cli::cmd_roundtrip(argc, argv);
    if (cmd == "bench") return kvscale::cli::cmd_bench(argc, argv);
    std::fprintf(stderr, "kvscale: unknown command '%s'\n\n%s", cmd.c_str(), kUsage);
    return kvscale::cli::kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvscale: internal error: %s\n", e.what());
    return kvscale::cli::kExitRejected;
  }
}
