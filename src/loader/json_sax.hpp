// Loader-private: the SAX layer every JSON input shares (the "parser" and "position" seams of
// nlohmann's detail/input).
//
// parse_json_text() runs bytes -> H6 size limit -> prescan (BOM, UTF-8, emptiness, NaN/Infinity,
// numbers beyond double) -> nlohmann::json::sax_parse over the blanked bytes -> trailing-data
// check. Along the way it tracks the RFC 6901 pointer and the depth (H6), detects duplicate keys
// per object (H2), reports NaN/Infinity tokens (H4), a top level that is not an object, trailing
// data (H7) and syntax errors, and forwards typed values to a JsonHandler. Handlers therefore see
// only well-formed structure and implement the schema of their input (the scales-file validator,
// the DOM builder of json_reader.hpp). nlohmann stays out of this header.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "sink.hpp"

namespace kvscale {
namespace loader {

struct JsonLimits {
  std::uint64_t max_bytes = 16u << 20;  ///< H6 / S1: larger input is refused before parsing.
  int max_depth = 64;                   ///< H6: containers nested deeper are refused.
};

/// JSON value kinds, for "expected X, found Y" messages.
enum class JsonKind : std::uint8_t { null_value, boolean, string, number, object, array };
/// "null", "a boolean", "a string", "a number", "an object", "an array".
const char* json_kind_name(JsonKind k) noexcept;

/// What a float token was in the bytes.
enum class FloatToken : std::uint8_t {
  plain,            ///< An ordinary JSON number.
  beyond_double,    ///< Valid JSON, but its magnitude overflows double; the value is +-infinity.
  nan_or_infinity,  ///< NaN, Infinity or -Infinity: not JSON; already reported (H4).
};

class JsonSaxDriver;

/// Receives a document's values in order. Every callback returns false to stop parsing; the layer
/// also stops once the sink is full. The pointer of the value (or key) being reported is pointer().
/// The top level is always an object: anything else is reported before a handler sees it.
class JsonHandler {
 public:
  virtual ~JsonHandler() = default;
  virtual bool on_null() = 0;
  virtual bool on_bool(bool value) = 0;
  virtual bool on_integer(std::int64_t value) = 0;
  virtual bool on_unsigned(std::uint64_t value) = 0;
  /// `text` is the token as written (unbounded: bound it with number_text() for messages).
  virtual bool on_float(double value, std::string_view text, FloatToken token) = 0;
  virtual bool on_string(std::string& value) = 0;  ///< The handler may move from `value`.
  virtual bool on_start_object() = 0;
  virtual bool on_end_object() = 0;
  virtual bool on_start_array() = 0;
  virtual bool on_end_array() = 0;
  virtual bool on_key(std::string& key) = 0;  ///< Called after the H2 check of `key`.

 protected:
  JsonHandler() = default;
  JsonHandler(const JsonHandler&) = default;
  JsonHandler& operator=(const JsonHandler&) = default;
  /// RFC 6901 pointer of the current value or key ("" = the top level).
  const std::string& pointer() const { return *pointer_; }

 private:
  friend class JsonSaxDriver;
  const std::string* pointer_ = nullptr;
};

/// Parses one document under `limits`, reporting to `sink` and forwarding values to `handler`.
/// `writable`, when not null, holds the same bytes as `bytes` and may be patched in place
/// (the blanking of special tokens); otherwise a copy is made when needed.
/// Returns true when the whole document was read: no size, encoding, syntax, depth, top-level or
/// trailing-data problem, no handler stop and a sink that is not full. Value-level diagnostics
/// (H2, H4, the handler's own) do not make it false. May throw std::bad_alloc.
bool parse_json_text(std::string_view bytes, std::string* writable, const JsonLimits& limits, Sink& sink,
                     JsonHandler& handler);

}  // namespace loader
}  // namespace kvscale
