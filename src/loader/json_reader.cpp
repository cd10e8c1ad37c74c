// The DOM reader: a JsonHandler that builds an nlohmann::json on the shared SAX layer, so that
// config.json, the index and safetensors headers get the scales file's H2/H4/H6/H7 checks.
#include "json_reader.hpp"

#include <cstdint>
#include <utility>
#include <vector>

#include "read_file.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {

namespace {

using json = nlohmann::json;

/// Builds the document as nlohmann's own json_sax_dom_parser does: a stack of the open
/// containers. Pointers into the tree stay valid because an array only grows while its newest
/// element is not open, and objects are node-based maps.
class DomBuilder final : public JsonHandler {
 public:
  DomBuilder(Sink& sink, json& root) : sink_(sink), root_(root) {}

  bool on_null() override { return put(json(nullptr)); }
  bool on_bool(bool v) override { return put(json(v)); }
  bool on_integer(std::int64_t v) override { return put(json(v)); }
  bool on_unsigned(std::uint64_t v) override { return put(json(v)); }
  bool on_float(double v, std::string_view text, FloatToken token) override {
    // NaN / Infinity were reported by the SAX layer; a number beyond double is reported here, with
    // the same code: the value could only be kept as infinity.
    if (token == FloatToken::beyond_double)
      sink_.add(DiagCode::nan_or_infinity, pointer(),
                "expected a finite JSON number, found " + number_text(text) +
                    " (beyond the double range, which parses as infinity)");
    return put(json(v));
  }
  bool on_string(std::string& v) override { return put(json(std::move(v))); }
  bool on_start_object() override { return open(json::object()); }
  bool on_start_array() override { return open(json::array()); }
  bool on_end_object() override { return close(); }
  bool on_end_array() override { return close(); }
  bool on_key(std::string& k) override {
    key_ = std::move(k);
    return true;
  }

 private:
  /// The place of the next value: the root, the end of the open array, or the last key's member
  /// (a duplicate key overwrites, as nlohmann does; H2 has already rejected the document).
  json* slot() {
    if (stack_.empty()) return &root_;
    json& top = *stack_.back();
    if (top.is_array()) {
      top.push_back(nullptr);
      return &top.back();
    }
    return &top[key_];
  }
  bool put(json v) {
    *slot() = std::move(v);
    return true;
  }
  bool open(json container) {
    json* s = slot();
    *s = std::move(container);
    stack_.push_back(s);
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  Sink& sink_;
  json& root_;
  std::vector<json*> stack_;
  std::string key_;
};

/// The document is accepted only when nothing was reported while it was read, including
/// value-level problems (H2, H4) that let parsing continue.
bool parse_into(std::string_view text, std::string* writable, const JsonLimits& limits, Sink& sink, json* out) {
  const std::size_t before = sink.diags().size();
  DomBuilder builder(sink, *out);
  const bool complete = parse_json_text(text, writable, limits, sink, builder);
  return complete && sink.diags().size() == before;
}

}  // namespace

bool parse_json_document(std::string_view text, const JsonLimits& limits, Sink& sink, json* out) {
  return parse_into(text, nullptr, limits, sink, out);
}

bool read_json_file(const std::string& path, const JsonLimits& limits, Sink& sink, json* out) {
  std::string buf;
  if (!read_file(path, limits.max_bytes, sink, &buf)) return false;
  return parse_into(buf, &buf, limits, sink, out);
}

}  // namespace loader
}  // namespace kvscale
