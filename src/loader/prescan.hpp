// Loader-private: the raw-byte pass that runs before nlohmann sees the input (the "lexer" seam).
//
// nlohmann cannot represent some tokens kvscale must report with a pointer: NaN, Infinity,
// -Infinity (H4) and numbers beyond the double range. The prescan records them by their ordinal
// among number tokens (the order in which the SAX parser reports numbers), and blank_specials()
// overwrites them with "0" plus spaces, the same length, so that parsing continues and the SAX
// layer can report each one where it occurs. It also rejects what no JSON input may hold: a UTF-8
// BOM, invalid UTF-8 (H7) and an empty or whitespace-only input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sink.hpp"

namespace kvscale {
namespace loader {

enum class SpecialKind : std::uint8_t { nan, inf, neg_inf, overflow };

/// A number token that nlohmann cannot represent.
struct Special {
  std::uint64_t ordinal;  ///< Index among number tokens (what the parser reports as numbers).
  std::size_t offset;     ///< Byte offset of the token.
  std::size_t length;
  SpecialKind kind;
  std::string text;  ///< The original token (bounded), for messages.
};

struct Prescan {
  bool ok = true;                 ///< False: a diagnostic was added and parsing must not start.
  std::vector<Special> specials;  ///< In input order.
};

/// Checks the encoding and emptiness of `bytes` and records the special number tokens.
Prescan prescan(std::string_view bytes, Sink& sink);

/// Overwrites each special token in `text` (the prescanned bytes, or a copy) with "0" + spaces.
void blank_specials(char* text, const std::vector<Special>& specials);

}  // namespace loader
}  // namespace kvscale
