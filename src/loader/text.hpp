// Loader-private: small text helpers shared by every JSON input (messages, pointers, keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kvscale {
namespace loader {

/// JSON-style quoted form of s for messages: escapes quotes, backslashes and control characters,
/// truncated to about `max_bytes` (at a UTF-8 boundary) with "..." appended, so that a hostile key
/// cannot flood a one-line message.
std::string quote(std::string_view s, std::size_t max_bytes = 64);

/// A number's source text for messages, bounded to 40 bytes plus "...".
std::string number_text(std::string_view s);

/// Appends "/" + key to an RFC 6901 pointer, escaping '~' as "~0" and '/' as "~1".
void append_pointer_segment(std::string& ptr, std::string_view key);

/// "/" + key escaped as above: the pointer to a top-level key (a tensor in a safetensors header).
std::string pointer_to(std::string_view key);

/// H1: the value of "0" or [1-9][0-9]* within int32; -1 when the key is not canonical.
std::int64_t canonical_index(std::string_view k);

/// The four whitespace bytes of RFC 8259 (not the C locale's isspace set).
inline bool is_json_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace loader
}  // namespace kvscale
