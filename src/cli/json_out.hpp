// CLI-private: a small JSON writer (only the loader may use the JSON library). Writes
// {"a": 1, "b": [true, null]}: ", " between items, ": " after keys, one line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

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

/// Streaming writer: the caller nests begin/end correctly; separators are automatic.
/// Numbers: integers as they are, floats and doubles with %.9g (float32 round-trips), or fixed().
class JsonWriter {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  JsonWriter& key(const std::string& k);
  JsonWriter& value(const std::string& s);
  JsonWriter& value(const char* s) { return value(std::string(s)); }
  JsonWriter& value(bool b);
  JsonWriter& value(int v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(long long v) { return value(static_cast<std::int64_t>(v)); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(float f);                 ///< %.9g
  JsonWriter& number(double d);               ///< %.9g
  JsonWriter& fixed(double d, int decimals);  ///< %.<decimals>f
  JsonWriter& null();
  /// Appends already-valid JSON text as one value.
  JsonWriter& raw(const std::string& json);
  const std::string& str() const { return out_; }

 private:
  void separate();
  std::string out_;
  std::vector<bool> first_;  ///< Per open container: no item written yet.
  bool after_key_ = false;
};

}  // namespace cli
}  // namespace kvscale
