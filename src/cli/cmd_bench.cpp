// Placeholder until the bench command lands.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"

namespace kvscale {
namespace cli {
int cmd_bench(int, char**) {
  std::fputs("kvscale bench: not implemented yet\n", stderr);
  return kExitUsage;
}
}  // namespace cli
}  // namespace kvscale
