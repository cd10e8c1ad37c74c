// CLI-private: the subcommands. Each returns an exit code (args.hpp: 0 ok, 1 rejected, 2 usage).
#pragma once

namespace kvscale {
namespace cli {

int cmd_validate(int argc, char** argv);   // cmd_validate.cpp
int cmd_inspect(int argc, char** argv);    // cmd_inspect.cpp
int cmd_roundtrip(int argc, char** argv);  // cmd_roundtrip.cpp
int cmd_bench(int argc, char** argv);      // cmd_bench.cpp

}  // namespace cli
}  // namespace kvscale
