// Text helpers for diagnostics: quoting, bounded number text, pointer segments, canonical keys.
#include "text.hpp"

#include <cstdio>
#include <limits>

namespace kvscale {
namespace loader {

namespace {
void append_escaped(std::string& out, unsigned char c) {
  switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\n': out += "\\n"; break;
    case '\t': out += "\\t"; break;
    case '\r': out += "\\r"; break;
    default:
      if (c < 0x20 || c == 0x7F) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
        out += buf;
      } else {
        out += static_cast<char>(c);
      }
  }
}
}  // namespace

std::string quote(std::string_view s, std::size_t max_bytes) {
  std::string out = "\"";
  std::size_t n = s.size();
  bool truncated = false;
  if (n > max_bytes) {
    // Back up to a UTF-8 lead byte so the message stays valid UTF-8.
    n = max_bytes;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0u) == 0x80u) --n;
    truncated = true;
  }
  for (std::size_t i = 0; i < n; ++i) append_escaped(out, static_cast<unsigned char>(s[i]));
  out += '"';
  if (truncated) out += "...";
  return out;
}

std::string number_text(std::string_view s) {
  if (s.size() <= 40) return std::string(s);
  return std::string(s.substr(0, 40)) + "...";
}

void append_pointer_segment(std::string& ptr, std::string_view key) {
  ptr += '/';
  for (char c : key) {
    if (c == '~')
      ptr += "~0";
    else if (c == '/')
      ptr += "~1";
    else
      ptr += c;
  }
}

std::int64_t canonical_index(std::string_view k) {
  if (k.empty() || k.size() > 10) return -1;
  if (k.size() > 1 && k[0] == '0') return -1;
  std::int64_t v = 0;
  for (char c : k) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  if (v > std::numeric_limits<std::int32_t>::max()) return -1;
  return v;
}

std::string pointer_to(std::string_view key) {
  std::string p;
  append_pointer_segment(p, key);
  return p;
}

}  // namespace loader
}  // namespace kvscale
