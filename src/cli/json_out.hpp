// CLI-private: writing JSON by hand (only the loader may use the JSON library).
#pragma once

#include <string>

namespace kvscale {
namespace cli {

/// Appends `s` to `out` as a JSON string literal: quotes, backslashes and control characters
/// escaped, other bytes (UTF-8 included) as they are.
void json_string(std::string& out, const std::string& s);

/// `s` as a JSON string literal, quotes included.
inline std::string json_quoted(const std::string& s) {
  std::string out;
  json_string(out, s);
  return out;
}

}  // namespace cli
}  // namespace kvscale
