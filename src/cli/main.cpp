// kvscale: command-line entry point. Dispatches through the command table (commands.cpp): parses
// the options the command declares, answers --help, checks the operand count, then runs it.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "args.hpp"
#include "commands.hpp"
#include "kvscale/version.hpp"

namespace kvscale {
namespace cli {
namespace {

std::string top_level_usage() {
  std::string u =
      "usage: kvscale <command> [options]\n"
      "\n"
      "Loads, validates, converts and applies FP8 KV-cache scales: vLLM's kv_cache_scales.json or the\n"
      "k_scale/v_scale tensors of a checkpoint (a directory or a .safetensors file).\n"
      "\n"
      "commands:\n";
  std::size_t width = 0;
  for (const Command* c = kCommands; c->name != nullptr; ++c) width = std::max(width, std::strlen(c->synopsis));
  for (const Command* c = kCommands; c->name != nullptr; ++c)
    u += "  " + std::string(c->synopsis) + std::string(width + 2 - std::strlen(c->synopsis), ' ') + c->summary + "\n";
  u += "\nRun 'kvscale <command> --help' for a command's options. 'kvscale --version' prints the version.\n";
  return u;
}

std::string operand_error(const Command& c, const Args& a) {
  const int n = static_cast<int>(a.positional.size());
  if (c.max_operands == 0) return "unexpected argument '" + a.positional[0] + "'";
  if (n < c.min_operands) return std::string("missing ") + c.operands;
  if (c.min_operands == c.max_operands)
    return std::string("expected exactly ") + (c.max_operands == 1 ? "one " : "") + c.operands;
  return std::string("expected at most one ") + c.operands;
}

int dispatch(const Command& c, int argc, char** argv) {
  Args a;
  a.command = c.name;
  std::set<std::string> flags = c.flag_options;
  flags.insert({"--help", "-h"});
  std::string err;
  if (!parse_args(argc, argv, 2, c.value_options, flags, &a, &err)) return usage_error(a, err);
  if (a.has("--help") || a.has("-h")) {
    std::fputs(c.usage, stdout);
    return kExitOk;
  }
  const int n = static_cast<int>(a.positional.size());
  if (n < c.min_operands || n > c.max_operands) return usage_error(a, operand_error(c, a));
  return c.run(a);
}

}  // namespace
}  // namespace cli
}  // namespace kvscale

int main(int argc, char** argv) {
  using namespace kvscale::cli;
  try {
    if (argc < 2) {
      std::fputs(top_level_usage().c_str(), stderr);
      return kExitUsage;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
      std::fputs(top_level_usage().c_str(), stdout);
      return kExitOk;
    }
    if (name == "--version") {
      std::printf("kvscale %s\n", KVSCALE_VERSION_STRING);
      return kExitOk;
    }
    if (const Command* c = find_command(name)) return dispatch(*c, argc, argv);
    std::fprintf(stderr, "kvscale: unknown command '%s'\n\n%s", name.c_str(), top_level_usage().c_str());
    return kExitUsage;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvscale: internal error: %s\n", e.what());
    return kExitRejected;
  }
}
