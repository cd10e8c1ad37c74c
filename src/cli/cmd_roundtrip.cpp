// Placeholder until the roundtrip command lands.
#include <cstdio>

#include "args.hpp"
#include "commands.hpp"

namespace kvscale {
namespace cli {
int cmd_roundtrip(int, char**) {
  std::fputs("kvscale roundtrip: not implemented yet\n", stderr);
  return kExitUsage;
}
}  // namespace cli
}  // namespace kvscale
