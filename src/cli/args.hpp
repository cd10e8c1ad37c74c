// CLI-private: a small, strict command-line parser shared by every subcommand.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace kvscale {
namespace cli {

/// Exit codes of every subcommand.
enum Exit : int { kExitOk = 0, kExitRejected = 1, kExitUsage = 2 };

struct Args {
  std::string command;  ///< The subcommand's name ("validate"), for messages.
  std::vector<std::string> positional;
  std::map<std::string, std::string> values;  ///< "--tp-size" -> "2"
  std::set<std::string> flags;                ///< "--json"
  bool has(const std::string& name) const { return flags.count(name) != 0 || values.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  }
};

/// Parses argv[first..argc). `value_options` take a value ("--x V" or "--x=V"); `flag_options`
/// take none. Unknown options, a missing value or a repeated option are errors (message in *error).
bool parse_args(int argc, char** argv, int first, const std::set<std::string>& value_options,
                const std::set<std::string>& flag_options, Args* out, std::string* error);

/// Parses a decimal integer in [lo, hi]; on failure writes "<name>: expected an integer in [lo, hi],
/// got '<text>'" to *error.
bool parse_int(const std::string& name, const std::string& text, std::int64_t lo, std::int64_t hi, std::int64_t* out,
               std::string* error);

}  // namespace cli
}  // namespace kvscale
