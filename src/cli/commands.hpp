// CLI-private: the command table (after git's cmd_struct in git.c). main.cpp parses the options a
// command declares, answers --help from the command's usage text, builds the top-level usage from
// the one-line summaries, and calls the command with already-parsed Args.
#pragma once

#include <set>
#include <string>

#include "args.hpp"

namespace kvscale {
namespace cli {

struct Command {
  const char* name;  ///< "validate"
  int (*run)(const Args&);
  const char* synopsis;                 ///< "validate FILE": the left column of the top-level usage.
  const char* summary;                  ///< One line for the top-level usage.
  const char* usage;                    ///< The full --help text, starting "usage: kvscale <name> ...".
  std::set<std::string> value_options;  ///< Options that take a value ("--tp-size").
  std::set<std::string> flag_options;   ///< Options without a value ("--json"); --help/-h are implied.
  const char* operands;                 ///< Positional operands, for messages ("FILE", "SRC OUT").
  int min_operands;
  int max_operands;
};

/// The table, in the order of the top-level usage; the last entry has name == nullptr.
extern const Command kCommands[];

/// The command called `name`, or nullptr.
const Command* find_command(const std::string& name);

/// Prints "kvscale <command>: <message>" and the command's usage to stderr; returns kExitUsage.
int usage_error(const Args& args, const std::string& message);

// Each command lives in cmd_<name>.cpp with its usage text next to it.
int cmd_validate(const Args& args);
int cmd_inspect(const Args& args);
int cmd_roundtrip(const Args& args);
int cmd_bench(const Args& args);
int cmd_convert(const Args& args);
extern const char kValidateUsage[];
extern const char kInspectUsage[];
extern const char kRoundtripUsage[];
extern const char kBenchUsage[];
extern const char kConvertUsage[];

}  // namespace cli
}  // namespace kvscale
