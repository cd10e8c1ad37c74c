// Placeholder until the validate command lands.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"

namespace kvscale {
namespace cli {
int cmd_validate(int, char**) {
  std::fputs("kvscale validate: not implemented yet\n", stderr);
  return kExitUsage;
}
}  // namespace cli
}  // namespace kvscale
