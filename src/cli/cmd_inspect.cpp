// Placeholder until the inspect command lands.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"

namespace kvscale {
namespace cli {
int cmd_inspect(int, char**) {
  std::fputs("kvscale inspect: not implemented yet\n", stderr);
  return kExitUsage;
}
}  // namespace cli
}  // namespace kvscale
