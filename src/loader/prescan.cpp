// The raw-byte prescan: encoding (BOM, UTF-8), emptiness, and the number tokens nlohmann cannot
// represent (see prescan.hpp for why they are blanked rather than rejected here).
#include "prescan.hpp"

#include <clocale>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "text.hpp"

namespace kvscale {
namespace loader {

namespace {

/// Length of a valid UTF-8 sequence at p[0..n), or 0 if invalid (overlongs, surrogates and code
/// points above U+10FFFF are invalid, as RFC 3629 says).
std::size_t utf8_seq_len(const unsigned char* p, std::size_t n) {
  const unsigned c = p[0];
  if (c < 0x80) return 1;
  auto cont = [&](std::size_t i) { return i < n && (p[i] & 0xC0u) == 0x80u; };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 2) return 0;
    const unsigned c1 = p[1];
    if (c == 0xE0 && (c1 < 0xA0 || c1 > 0xBF)) return 0;
    if (c == 0xED && (c1 < 0x80 || c1 > 0x9F)) return 0;
    return (cont(1) && cont(2)) ? 3 : 0;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 2) return 0;
    const unsigned c1 = p[1];
    if (c == 0xF0 && (c1 < 0x90 || c1 > 0xBF)) return 0;
    if (c == 0xF4 && (c1 < 0x80 || c1 > 0x8F)) return 0;
    return (cont(1) && cont(2) && cont(3)) ? 4 : 0;
  }
  return 0;
}

/// The parts of a JSON number token; false when the text is not a JSON number.
struct NumberParts {
  std::size_t int_begin, int_end, frac_begin, frac_end;
  std::int64_t exp;
};

bool split_number(const char* s, std::size_t n, NumberParts* out) {
  std::size_t i = 0;
  if (i < n && s[i] == '-') ++i;
  out->int_begin = i;
  while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
  out->int_end = i;
  if (out->int_end == out->int_begin) return false;
  out->frac_begin = out->frac_end = i;
  if (i < n && s[i] == '.') {
    out->frac_begin = ++i;
    while (i < n && s[i] >= '0' && s[i] <= '9') ++i;
    out->frac_end = i;
    if (out->frac_end == out->frac_begin) return false;
  }
  out->exp = 0;
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
    const std::size_t eb = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      if (out->exp < 1000000000) out->exp = out->exp * 10 + (s[i] - '0');  // saturate: only > 308 matters
      ++i;
    }
    if (i == eb) return false;
    if (neg) out->exp = -out->exp;
  }
  return i == n;
}

/// True if the JSON number text [s, s+n) is syntactically a JSON number whose value overflows double.
bool number_overflows_double(const char* s, std::size_t n) {
  NumberParts p{};
  if (!split_number(s, n, &p)) return false;
  // Decimal magnitude of the first significant digit.
  std::int64_t mag;
  std::size_t k = p.int_begin;
  while (k < p.int_end && s[k] == '0') ++k;
  if (k < p.int_end) {
    mag = static_cast<std::int64_t>(p.int_end - k) - 1;
  } else {
    k = p.frac_begin;
    while (k < p.frac_end && s[k] == '0') ++k;
    if (k == p.frac_end) return false;  // zero
    mag = -static_cast<std::int64_t>(k - p.frac_begin) - 1;
  }
  mag += p.exp;
  if (mag < 308) return false;
  if (mag > 308) return true;
  // Borderline: let strtod decide, with the locale's decimal point (as nlohmann does).
  std::string copy(s, n);
  const char dp = *std::localeconv()->decimal_point;
  for (char& c : copy)
    if (c == '.') c = dp;
  return std::isinf(std::strtod(copy.c_str(), nullptr));
}

bool check_encoding(const unsigned char* p, std::size_t n, Sink& sink) {
  if (n >= 3 && p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF) {
    sink.add(DiagCode::utf8_bom, "",
             "expected JSON text, found a UTF-8 byte order mark (EF BB BF) at byte 0 (hint: save the file as "
             "UTF-8 without a BOM)");
    return false;
  }
  for (std::size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t len = utf8_seq_len(p + i, n - i);
    if (len == 0) {
      char buf[160];
      std::snprintf(buf, sizeof buf,
                    "expected UTF-8 text, found an invalid byte sequence starting with 0x%02X at byte %zu",
                    static_cast<unsigned>(p[i]), i);
      sink.add(DiagCode::invalid_utf8, "", buf);
      return false;
    }
    i += len;
  }
  return true;
}

bool check_not_empty(std::string_view b, Sink& sink) {
  std::size_t first = 0;
  while (first < b.size() && is_json_ws(b[first])) ++first;
  if (first < b.size()) return true;
  sink.add(DiagCode::syntax_error, "",
           b.empty() ? "expected a JSON object, found an empty file" : "expected a JSON object, found only whitespace");
  return false;
}

bool is_structural(char c) { return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':'; }

/// The kind of a bare token in value position, or false when nlohmann can represent it.
bool classify_special(std::string_view tok, SpecialKind* kind) {
  if (tok == "NaN") {
    *kind = SpecialKind::nan;
  } else if (tok == "Infinity") {
    *kind = SpecialKind::inf;
  } else if (tok == "-Infinity") {
    *kind = SpecialKind::neg_inf;
  } else if (number_overflows_double(tok.data(), tok.size())) {
    *kind = SpecialKind::overflow;
  } else {
    return false;
  }
  return true;
}

/// Walks the tokens outside strings, counting number tokens the way the parser will report them.
/// Only tokens in value position count: elsewhere the parser stops with a syntax error anyway.
void find_specials(std::string_view b, std::vector<Special>& out) {
  std::uint64_t ordinal = 0;
  bool in_string = false;
  char prev_sig = '\0';  // previous structural byte outside strings ('\0' = start)
  for (std::size_t i = 0; i < b.size();) {
    const char c = b[i];
    if (in_string) {
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '"') {
        in_string = false;
        prev_sig = '"';
      }
      ++i;
      continue;
    }
    if (c == '"' || is_json_ws(c) || is_structural(c)) {
      in_string = c == '"';
      if (is_structural(c)) prev_sig = c;
      ++i;
      continue;
    }
    std::size_t j = i;  // a bare token: a maximal run of other bytes
    while (j < b.size() && !is_json_ws(b[j]) && b[j] != '"' && !is_structural(b[j])) ++j;
    const std::string_view tok = b.substr(i, j - i);
    const bool value_position = prev_sig == '\0' || prev_sig == '[' || prev_sig == ',' || prev_sig == ':';
    const bool numeric = tok[0] == '-' || (tok[0] >= '0' && tok[0] <= '9');
    SpecialKind kind = SpecialKind::nan;
    const bool special = value_position && classify_special(tok, &kind);
    if (special) out.push_back({ordinal, i, tok.size(), kind, number_text(tok)});
    if (numeric || special) ++ordinal;
    prev_sig = 't';
    i = j;
  }
}

}  // namespace

Prescan prescan(std::string_view bytes, Sink& sink) {
  Prescan r;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  r.ok = check_encoding(p, bytes.size(), sink) && check_not_empty(bytes, sink);
  if (r.ok) find_specials(bytes, r.specials);
  return r;
}

void blank_specials(char* text, const std::vector<Special>& specials) {
  for (const Special& s : specials) {
    text[s.offset] = '0';
    std::memset(text + s.offset + 1, ' ', s.length - 1);
  }
}

}  // namespace loader
}  // namespace kvscale
