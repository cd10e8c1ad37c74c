// The shared SAX layer: drives nlohmann::json::sax_parse and turns its callbacks into H2/H4/H6/H7
// checks with pointers plus typed JsonHandler callbacks (see json_sax.hpp).
#include "json_sax.hpp"

#include <cstdio>
#include <iterator>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "key_set.hpp"
#include "prescan.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {

const char* json_kind_name(JsonKind k) noexcept {
  switch (k) {
    case JsonKind::null_value: return "null";
    case JsonKind::boolean: return "a boolean";
    case JsonKind::string: return "a string";
    case JsonKind::number: return "a number";
    case JsonKind::object: return "an object";
    case JsonKind::array: return "an array";
  }
  return "?";
}

namespace {

/// Input iterator over the bytes that publishes its position: nlohmann reports no offset when the
/// top-level value ends, and the trailing-data message needs one.
struct CountingIterator {
  using iterator_category = std::input_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;
  const char* p;
  const char** pos;
  reference operator*() const { return *p; }
  CountingIterator& operator++() {
    ++p;
    *pos = p;
    return *this;
  }
  CountingIterator operator++(int) {
    CountingIterator t = *this;
    ++*this;
    return t;
  }
  bool operator==(const CountingIterator& o) const { return p == o.p; }
  bool operator!=(const CountingIterator& o) const { return p != o.p; }
};

}  // namespace

/// nlohmann's SAX interface (the exact signatures its static checks require) over a JsonHandler.
class JsonSaxDriver {
 public:
  using json = nlohmann::json;

  JsonSaxDriver(std::string_view src, const std::vector<Special>& specials, int max_depth, Sink& sink,
                JsonHandler& handler)
      : src_(src), specials_(specials), max_depth_(max_depth), sink_(sink), handler_(handler) {
    handler_.pointer_ = &ptr_;
  }
  ~JsonSaxDriver() { handler_.pointer_ = nullptr; }
  JsonSaxDriver(const JsonSaxDriver&) = delete;
  JsonSaxDriver& operator=(const JsonSaxDriver&) = delete;

  /// Parses the whole input; see parse_json_text() for the meaning of the result.
  bool run() {
    const char* pos = src_.data();
    cursor_ = &pos;
    CountingIterator first{src_.data(), &pos}, last{src_.data() + src_.size(), &pos};
    const bool parsed = json::sax_parse(first, last, this, json::input_format_t::json, true, false);
    if (!parsed || aborted_ || sink_.full()) return false;
    // nlohmann stops at a NUL byte as if the input ended there, so a successful parse may still
    // leave bytes behind.
    return !report_trailing();
  }

  // --- nlohmann SAX interface
  bool null() { return value(JsonKind::null_value) && done(handler_.on_null()); }
  bool boolean(bool v) { return value(JsonKind::boolean) && done(handler_.on_bool(v)); }
  bool number_integer(json::number_integer_t v) {
    const Special* sp = take_special();
    if (!value(JsonKind::number)) return false;
    return sp != nullptr ? special(*sp) : done(handler_.on_integer(v));
  }
  bool number_unsigned(json::number_unsigned_t v) {
    const Special* sp = take_special();
    if (!value(JsonKind::number)) return false;
    return sp != nullptr ? special(*sp) : done(handler_.on_unsigned(v));
  }
  bool number_float(json::number_float_t v, const json::string_t& text) {
    const Special* sp = take_special();
    if (!value(JsonKind::number)) return false;
    return sp != nullptr ? special(*sp) : done(handler_.on_float(v, text, FloatToken::plain));
  }
  bool string(json::string_t& s) { return value(JsonKind::string) && done(handler_.on_string(s)); }
  bool binary(json::binary_t&) { return null(); }  // never produced by the JSON parser
  bool start_object(std::size_t) { return open(false); }
  bool end_object() { return close(handler_.on_end_object()); }
  bool start_array(std::size_t) { return open(true); }
  bool end_array() { return close(handler_.on_end_array()); }
  bool key(json::string_t& k);
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex);

 private:
  struct Frame {
    bool is_array;
    std::size_t base_len;  // length of the pointer to this container
    std::uint64_t index;   // next element index (arrays)
    KeySet keys;           // objects (H2)
  };

  bool done(bool handler_ok) const { return handler_ok && !sink_.full(); }
  bool value(JsonKind k);
  bool open(bool is_array);
  bool close(bool handler_ok);
  const Special* take_special();
  bool special(const Special& sp);
  bool report_trailing();

  std::string_view src_;
  const std::vector<Special>& specials_;
  int max_depth_;
  Sink& sink_;
  JsonHandler& handler_;
  std::vector<Frame> stack_;
  std::string ptr_;
  const char* const* cursor_ = nullptr;  // the parser's read position
  std::uint64_t num_ordinal_ = 0;
  std::size_t next_special_ = 0;
  bool aborted_ = false;
  bool root_done_ = false;
  std::size_t root_end_ = 0;
};

/// Positions the pointer on a new value. The top level must be an object (H7): anything else
/// stops the parse here, before the handler sees it.
bool JsonSaxDriver::value(JsonKind k) {
  if (stack_.empty() && k != JsonKind::object) {
    sink_.add(DiagCode::not_an_object, "",
              std::string("expected a JSON object at the top level, found ") + json_kind_name(k));
    aborted_ = true;
    return false;
  }
  if (!stack_.empty() && stack_.back().is_array) {
    Frame& f = stack_.back();
    ptr_.resize(f.base_len);
    ptr_ += '/';
    ptr_ += std::to_string(f.index++);
  }
  return true;
}

bool JsonSaxDriver::open(bool is_array) {
  if (!value(is_array ? JsonKind::array : JsonKind::object)) return false;
  if (stack_.size() + 1 > static_cast<std::size_t>(max_depth_)) {
    sink_.add(DiagCode::nesting_too_deep, ptr_,
              "expected JSON nesting of at most " + std::to_string(max_depth_) + " levels, found level " +
                  std::to_string(stack_.size() + 1));
    aborted_ = true;
    return false;
  }
  if (!done(is_array ? handler_.on_start_array() : handler_.on_start_object())) return false;
  stack_.push_back(Frame{is_array, ptr_.size(), 0, KeySet{}});
  return true;
}

bool JsonSaxDriver::close(bool handler_ok) {
  stack_.pop_back();
  if (stack_.empty()) {
    root_done_ = true;
    root_end_ = static_cast<std::size_t>(*cursor_ - src_.data());
  } else {
    ptr_.resize(stack_.back().base_len);
  }
  return handler_ok;
}

bool JsonSaxDriver::key(json::string_t& k) {
  Frame& f = stack_.back();
  ptr_.resize(f.base_len);
  append_pointer_segment(ptr_, k);
  if (!f.keys.insert(k)) {
    sink_.add(DiagCode::duplicate_key, ptr_,
              "expected each key once per object, found " + quote(k) +
                  " again (hint: JSON parsers keep only the last value; remove one)");
  }
  return done(handler_.on_key(k));
}

/// The special token (prescan) that this number token replaced, if any. Ordinals count every
/// number the parser reports, in order, exactly as the prescan counted number tokens.
const Special* JsonSaxDriver::take_special() {
  const std::uint64_t ord = num_ordinal_++;
  if (next_special_ < specials_.size() && specials_[next_special_].ordinal == ord) return &specials_[next_special_++];
  return nullptr;
}

/// A blanked token: the parser saw "0"; the handler gets the real value and the original text.
bool JsonSaxDriver::special(const Special& sp) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  if (sp.kind == SpecialKind::overflow)
    return done(handler_.on_float(sp.text[0] == '-' ? -inf : inf, sp.text, FloatToken::beyond_double));
  sink_.add(DiagCode::nan_or_infinity, ptr_,
            "expected a JSON number, found the non-standard token " + sp.text + " at byte " +
                std::to_string(sp.offset) + " (hint: JSON has no NaN or Infinity; write a finite scale > 0)");
  const double v = sp.kind == SpecialKind::nan ? std::numeric_limits<double>::quiet_NaN()
                                               : (sp.kind == SpecialKind::inf ? inf : -inf);
  return done(handler_.on_float(v, sp.text, FloatToken::nan_or_infinity));
}

/// True (and reported) when non-whitespace bytes follow the top-level value.
bool JsonSaxDriver::report_trailing() {
  std::size_t off = root_end_;
  while (off < src_.size() && is_json_ws(src_[off])) ++off;
  if (off >= src_.size()) return false;
  const unsigned char c = static_cast<unsigned char>(src_[off]);
  char found[32];
  if (c > 0x20 && c < 0x7F)
    std::snprintf(found, sizeof found, "'%c'", c);
  else
    std::snprintf(found, sizeof found, "byte 0x%02X", static_cast<unsigned>(c));
  sink_.add(DiagCode::trailing_data, "",
            "expected the end of the file after the top-level object, found " + std::string(found) + " at byte " +
                std::to_string(off) + " (hint: a file holds exactly one JSON object)");
  return true;
}

bool JsonSaxDriver::parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
  if (aborted_) return false;
  aborted_ = true;
  // After the top-level value, any error is nlohmann complaining about what follows it.
  if (root_done_) {
    report_trailing();
    return false;
  }
  // "[json.exception.parse_error.101] parse error at line 1, column 2: detail" -> where, detail.
  const std::string what = ex.what();
  std::string where, detail = what;
  if (auto at = what.find("at line "); at != std::string::npos) {
    if (auto colon = what.find(": ", at); colon != std::string::npos) {
      where = what.substr(at, colon - at);
      detail = what.substr(colon + 2);
    }
  }
  for (char& c : detail)
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  if (detail.find("surrogate") != std::string::npos) {
    sink_.add(DiagCode::invalid_utf8, ptr_,
              "expected text that UTF-8 can encode, found an unpaired UTF-16 surrogate escape " + where + " (byte " +
                  std::to_string(position) + ")");
    return false;
  }
  sink_.add(
      DiagCode::syntax_error, ptr_,
      "expected valid JSON, found a syntax error " + where + " (byte " + std::to_string(position) + "): " + detail);
  return false;
}

bool parse_json_text(std::string_view bytes, std::string* writable, const JsonLimits& limits, Sink& sink,
                     JsonHandler& handler) {
  if (bytes.size() > limits.max_bytes) {
    sink.add(DiagCode::file_too_large, "",
             "expected at most " + std::to_string(limits.max_bytes) + " bytes, found " + std::to_string(bytes.size()) +
                 " bytes");
    return false;
  }
  const Prescan pre = prescan(bytes, sink);
  if (!pre.ok) return false;
  std::string copy;
  std::string_view src = bytes;
  if (!pre.specials.empty()) {
    if (writable == nullptr) {
      copy.assign(bytes.data(), bytes.size());
      writable = &copy;
    }
    blank_specials(writable->data(), pre.specials);
    src = std::string_view(writable->data(), bytes.size());
  }
  JsonSaxDriver driver(src, pre.specials, limits.max_depth, sink, handler);
  return driver.run();
}

}  // namespace loader
}  // namespace kvscale
