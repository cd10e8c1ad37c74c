// The scales-file schema as a JsonHandler: each value is checked against the role its position
// gives it (root, model_type, kv_cache, dtype, scaling_factor, rank, layer or unknown).
#include "scales_validator.hpp"

#include <cmath>
#include <limits>
#include <utility>

#include "json_sax.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {

namespace {

constexpr std::string_view kExpectedDtype = "float8_e4m3fn";
constexpr std::size_t npos = static_cast<std::size_t>(-1);

enum class Role : std::uint8_t { root, model_type, kv_cache, dtype, scaling_factor, rank, layer, unknown };

/// The validator's view of one open container (the SAX layer keeps the pointer and key set).
struct Frame {
  Role role;
  Role child_role;         // role of the value after the last key; unknown in arrays
  std::int64_t child_int;  // canonical index of the last key, -1 if none / excluded
  std::size_t rank_slot;   // rank frames: index in ParsedDocument::ranks, or npos
};

class ScalesValidator final : public JsonHandler {
 public:
  ScalesValidator(const LoadLimits& limits, const LoadContext* ctx, Sink& sink, std::vector<Diagnostic>& warnings)
      : limits_(limits), ctx_(ctx), sink_(sink), warnings_(warnings) {}

  ParsedDocument take_document() { return std::move(doc_); }

  bool on_null() override { return check_value(JsonKind::null_value, nullptr); }
  bool on_bool(bool) override { return check_value(JsonKind::boolean, nullptr); }
  bool on_string(std::string& s) override { return check_value(JsonKind::string, &s); }
  bool on_integer(std::int64_t v) override {
    return number(static_cast<double>(v), [v] { return std::to_string(v); });
  }
  bool on_unsigned(std::uint64_t v) override {
    return number(static_cast<double>(v), [v] { return std::to_string(v); });
  }
  bool on_float(double v, std::string_view text, FloatToken token) override;
  bool on_start_object() override { return open(false); }
  bool on_start_array() override { return open(true); }
  bool on_end_object() override { return close(); }
  bool on_end_array() override { return close(); }
  bool on_key(std::string& k) override;

 private:
  void add(DiagCode c, std::string msg) { sink_.add(c, pointer(), std::move(msg)); }
  void warn_unknown() {
    if (warnings_.size() < limits_.max_diagnostics)
      warnings_.push_back({DiagCode::unknown_key, pointer(), "unknown key " + pointer()});
  }
  Role value_role() const { return stack_.empty() ? Role::root : stack_.back().child_role; }

  Role key_in_root(const std::string& k);
  Role key_in_kv_cache(const std::string& k);
  std::int64_t rank_key(const std::string& k);
  std::int64_t layer_key(const std::string& k, RankData* rd);

  bool check_value(JsonKind k, const std::string* s);
  void model_type_value(JsonKind k, const std::string* s);
  void dtype_value(JsonKind k, const std::string* s);
  void rank_value(JsonKind k);
  void layer_not_number(JsonKind k);
  template <class TextFn>
  bool number(double d, TextFn&& text, bool beyond_double = false);
  void record_layer(float value);
  bool open(bool is_array);
  bool close() {
    stack_.pop_back();
    return true;
  }

  const LoadLimits& limits_;
  const LoadContext* ctx_;  // null when absent or unusable
  Sink& sink_;
  std::vector<Diagnostic>& warnings_;
  std::vector<Frame> stack_;
  ParsedDocument doc_;
};

bool ScalesValidator::on_key(std::string& k) {
  Frame& f = stack_.back();
  f.child_int = -1;
  switch (f.role) {
    case Role::root: f.child_role = key_in_root(k); break;
    case Role::kv_cache: f.child_role = key_in_kv_cache(k); break;
    case Role::scaling_factor:
      f.child_role = Role::rank;
      f.child_int = rank_key(k);
      break;
    case Role::rank:
      f.child_role = Role::layer;
      f.child_int = layer_key(k, f.rank_slot == npos ? nullptr : &doc_.ranks[f.rank_slot]);
      break;
    default: f.child_role = Role::unknown; break;
  }
  return true;
}

Role ScalesValidator::key_in_root(const std::string& k) {
  if (k == "model_type") {
    doc_.has_model_type = true;
    return Role::model_type;
  }
  if (k == "kv_cache") {
    doc_.has_kv_cache = true;
    return Role::kv_cache;
  }
  warn_unknown();
  return Role::unknown;
}

Role ScalesValidator::key_in_kv_cache(const std::string& k) {
  if (k == "dtype") {
    doc_.has_dtype = true;
    return Role::dtype;
  }
  if (k == "scaling_factor") {
    doc_.has_scaling_factor = true;
    return Role::scaling_factor;
  }
  warn_unknown();
  return Role::unknown;
}

/// H1 and the rank range (V2 with a context, H6 without). Returns the rank, or -1 when the rank
/// is excluded from the set checks (its values are still checked).
std::int64_t ScalesValidator::rank_key(const std::string& k) {
  const std::int64_t r = canonical_index(k);
  if (r < 0) {
    doc_.noncanonical_ranks = true;
    add(DiagCode::key_not_canonical,
        "expected a rank key in canonical decimal form (0, or 1-9 then digits, within int32), found " + quote(k) +
            " (hint: vLLM coerces it to an integer; write the plain number)");
  } else if (ctx_ != nullptr && r >= ctx_->tp_size) {
    add(DiagCode::rank_unexpected, "expected a rank in 0.." + std::to_string(ctx_->tp_size - 1) + " (tp_size " +
                                       std::to_string(ctx_->tp_size) + "), found rank " + std::to_string(r));
  } else if (ctx_ == nullptr && r >= limits_.max_ranks) {
    add(DiagCode::too_many_ranks,
        "expected rank indices below " + std::to_string(limits_.max_ranks) + ", found rank " + std::to_string(r));
  } else {
    return r;
  }
  return -1;
}

/// H1 and the layer range (V3 with a context, H6 without), as rank_key() for layers of `rd`
/// (null when the rank itself is excluded).
std::int64_t ScalesValidator::layer_key(const std::string& k, RankData* rd) {
  const std::int64_t l = canonical_index(k);
  if (l < 0) {
    if (rd) rd->noncanonical_layers = true;
    add(DiagCode::key_not_canonical,
        "expected a layer key in canonical decimal form (0, or 1-9 then digits, within int32), found " + quote(k) +
            " (hint: vLLM coerces it to an integer; write the plain number)");
  } else if (rd == nullptr) {
    // Rank excluded (non-canonical or out of range): values are still checked, sets are not.
  } else if (ctx_ != nullptr && l >= ctx_->num_hidden_layers) {
    add(DiagCode::layer_unexpected, "expected a layer in 0.." + std::to_string(ctx_->num_hidden_layers - 1) +
                                        " (num_hidden_layers " + std::to_string(ctx_->num_hidden_layers) +
                                        "), found layer " + std::to_string(l));
  } else if (ctx_ == nullptr && l >= limits_.max_layers) {
    add(DiagCode::too_many_layers,
        "expected layer indices below " + std::to_string(limits_.max_layers) + ", found layer " + std::to_string(l));
  } else {
    return l;
  }
  return -1;
}

/// Structure checks (V1, V5, V6, H3) of every value that is not a number in a scale position.
bool ScalesValidator::check_value(JsonKind k, const std::string* s) {
  switch (value_role()) {
    case Role::root: break;  // the SAX layer lets only an object through at the top level
    case Role::model_type: model_type_value(k, s); break;
    case Role::kv_cache:
      if (k == JsonKind::object)
        doc_.kv_cache_object = true;
      else
        add(DiagCode::wrong_type, std::string("expected an object, found ") + json_kind_name(k));
      break;
    case Role::dtype: dtype_value(k, s); break;
    case Role::scaling_factor:
      if (k == JsonKind::object)
        doc_.scaling_factor_object = true;
      else
        add(DiagCode::wrong_type, std::string("expected an object (rank -> layers), found ") + json_kind_name(k));
      break;
    case Role::rank: rank_value(k); break;
    case Role::layer: layer_not_number(k); break;
    case Role::unknown: break;
  }
  return !sink_.full();
}

void ScalesValidator::model_type_value(JsonKind k, const std::string* s) {
  if (k == JsonKind::string) {
    doc_.model_type = *s;
    if (ctx_ && ctx_->model_type && *ctx_->model_type != *s)
      add(DiagCode::model_type_mismatch,
          "expected model_type " + quote(*ctx_->model_type) + " (from the context), found " + quote(*s));
  } else if (k == JsonKind::null_value) {
    doc_.model_type.reset();
    if (ctx_ && ctx_->model_type)
      add(DiagCode::model_type_mismatch,
          "expected model_type " + quote(*ctx_->model_type) + " (from the context), found null");
  } else {
    add(DiagCode::wrong_type, std::string("expected a string or null, found ") + json_kind_name(k));
  }
}

void ScalesValidator::dtype_value(JsonKind k, const std::string* s) {
  if (k != JsonKind::string) {
    add(DiagCode::wrong_type, std::string("expected a string, found ") + json_kind_name(k));
  } else if (*s != kExpectedDtype) {
    add(DiagCode::dtype_mismatch, "expected \"float8_e4m3fn\", found " + quote(*s) +
                                      " (hint: the scales are calibrated for e4m3fn; the cache format is chosen at "
                                      "load time)");
  }
}

/// A rank's value: recorded for V2 even when it is not an object (it is present, but wrong).
void ScalesValidator::rank_value(JsonKind k) {
  const Frame& parent = stack_.back();
  if (k != JsonKind::object)
    add(DiagCode::wrong_type, std::string("expected an object (layer -> scale), found ") + json_kind_name(k));
  if (parent.child_int >= 0) {
    doc_.ranks.emplace_back();
    doc_.ranks.back().rank = static_cast<std::int32_t>(parent.child_int);
    doc_.ranks.back().is_object = k == JsonKind::object;
  }
}

/// H3: the layer is present (V3 must not also call it missing), but its scale is not a number.
void ScalesValidator::layer_not_number(JsonKind k) {
  record_layer(std::numeric_limits<float>::quiet_NaN());
  add(DiagCode::scale_not_number,
      std::string("expected a scale as a JSON number, found ") + json_kind_name(k) +
          (k == JsonKind::string ? " (hint: remove the quotes; vLLM converts strings silently)"
                                 : " (hint: write the scale as a number > 0)"));
}

bool ScalesValidator::on_float(double v, std::string_view text, FloatToken token) {
  if (token == FloatToken::nan_or_infinity) {
    // Already reported as nan_or_infinity (H4); a layer is still present for V3.
    if (value_role() == Role::layer) record_layer(std::numeric_limits<float>::quiet_NaN());
    return !sink_.full();
  }
  return number(
      v, [text] { return number_text(text); }, token == FloatToken::beyond_double);
}

/// A number: a scale in a layer position (H5), a wrong type anywhere the schema wants another kind.
/// `text` gives the token for messages, computed only when one is needed.
template <class TextFn>
bool ScalesValidator::number(double d, TextFn&& text, bool beyond_double) {
  const Role role = value_role();
  if (role != Role::layer) return check_value(JsonKind::number, nullptr);
  // A scale: decimal -> nearest double (strtod) -> float32 by one cast, as vLLM/torch do.
  const float f = static_cast<float>(d);
  record_layer(f);
  if (!beyond_double && std::isfinite(f) && f > 0.0f) return true;
  std::string why;
  if (beyond_double)
    why = " (beyond the double range)";
  else if (std::isinf(f))
    why = " (inf as float32)";
  else if (f == 0.0f && d != 0.0)
    why = d > 0 ? " (0 as float32)" : " (-0 as float32)";
  add(DiagCode::scale_out_of_range, "expected a finite float32 scale > 0, found " + text() + why +
                                        " (hint: scales are amax / 448 of a calibration run)");
  return !sink_.full();
}

/// Layer presence (V3) and, for valid scales, the value. Only canonical, in-range keys count.
void ScalesValidator::record_layer(float value) {
  const Frame& parent = stack_.back();
  if (parent.child_int >= 0 && parent.rank_slot != npos)
    doc_.ranks[parent.rank_slot].layers.push_back({static_cast<std::int32_t>(parent.child_int), value});
}

bool ScalesValidator::open(bool is_array) {
  if (stack_.empty()) {  // the top-level object (the SAX layer rejected any other top level)
    stack_.push_back(Frame{Role::root, Role::unknown, -1, npos});
    return true;
  }
  const Role role = value_role();
  const std::size_t ranks_before = doc_.ranks.size();
  if (!check_value(is_array ? JsonKind::array : JsonKind::object, nullptr)) return false;
  Role new_role = Role::unknown;
  std::size_t rank_slot = npos;
  if (!is_array && (role == Role::kv_cache || role == Role::scaling_factor || role == Role::rank)) {
    new_role = role;
    if (role == Role::rank && doc_.ranks.size() > ranks_before) rank_slot = ranks_before;
  }
  stack_.push_back(Frame{new_role, Role::unknown, -1, rank_slot});
  return true;
}

}  // namespace

bool validate_scales_json(std::string_view bytes, std::string* writable, const LoadLimits& limits,
                          const LoadContext* ctx, Sink& sink, std::vector<Diagnostic>& warnings, ParsedDocument* doc) {
  ScalesValidator validator(limits, ctx, sink, warnings);
  const JsonLimits json_limits{limits.max_file_bytes, limits.max_depth};
  const bool complete = parse_json_text(bytes, writable, json_limits, sink, validator);
  *doc = validator.take_document();
  return complete;
}

}  // namespace loader
}  // namespace kvscale
