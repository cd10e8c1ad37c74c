// The scales-file loader: the only code in kvscale that parses JSON (nlohmann/json, SAX mode).
//
// Pipeline (spec docs/scales-file.md):
//   1. I/O: stat (type, size limit before reading), open, bounded read.
//   2. Pre-scan of the raw bytes: UTF-8 BOM, invalid UTF-8, empty input, and the tokens nlohmann
//      cannot represent (NaN / Infinity / -Infinity, numbers beyond the double range). Those tokens
//      are recorded by their ordinal among number tokens and blanked to "0" plus spaces (same
//      length), so that parsing continues and every problem is reported with its JSON pointer.
//   3. One SAX pass that validates the fixed schema as it streams: no DOM is built. Only the scales
//      (8 bytes per layer) and, per open object, a compact key set for duplicate detection are kept.
//   4. Set checks (V2/V3), then the table or the fallback.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "key_set.hpp"
#include "kvscale/scales.hpp"
#include "prescan.hpp"
#include "sink.hpp"
#include "text.hpp"

namespace kvscale {
namespace {

using loader::append_pointer_segment;
using loader::canonical_index;
using loader::is_json_ws;
using loader::KeySet;
using loader::number_text;
using loader::prescan;
using loader::Prescan;
using loader::quote;
using loader::Sink;
using loader::Special;
using loader::SpecialKind;

constexpr std::string_view kExpectedDtype = "float8_e4m3fn";

// ---------------------------------------------------------------------------------------------
// The streaming validator

enum class Role : std::uint8_t { root, model_type, kv_cache, dtype, scaling_factor, rank, layer, unknown };

struct LayerEntry {
  std::int32_t layer;
  float value;
};

struct RankData {
  std::int32_t rank = -1;
  bool is_object = true;
  bool noncanonical_layers = false;
  std::vector<LayerEntry> layers;  // canonical, in-range layer keys only
};

struct Frame {
  Role role;
  bool is_array;
  std::size_t base_len;    // length of the pointer to this container
  std::uint64_t index;     // next element index (arrays)
  Role child_role;         // role of the value after the last key (objects)
  std::int64_t child_int;  // canonical index of the last key, -1 if none / excluded
  std::size_t rank_slot;   // rank frames: index in ranks, or npos
  KeySet keys;
};

constexpr std::size_t npos = static_cast<std::size_t>(-1);

struct Validator {
  using json = nlohmann::json;
  using number_integer_t = json::number_integer_t;
  using number_unsigned_t = json::number_unsigned_t;
  using number_float_t = json::number_float_t;
  using string_t = json::string_t;
  using binary_t = json::binary_t;

  Validator(std::string_view src, const std::vector<Special>& specials, const LoadLimits& limits,
            const LoadContext* ctx, Sink& sink, std::vector<Diagnostic>& warnings)
      : src_(src), specials_(specials), limits_(limits), ctx_(ctx), sink_(sink), warnings_(warnings) {}

  // --- state exposed to the caller
  bool aborted = false;
  bool root_done = false;
  std::size_t root_end = 0;
  const char* const* cursor = nullptr;  // set by the caller: the parser's read position
  bool has_model_type = false, has_kv_cache = false, kv_cache_object = false;
  bool has_dtype = false, has_scaling_factor = false, scaling_factor_object = false;
  bool noncanonical_ranks = false;
  std::optional<std::string> model_type;
  std::vector<RankData> ranks;

  // --- SAX interface
  bool null() { return primitive(Kind::null_, nullptr); }
  bool boolean(bool) { return primitive(Kind::boolean_, nullptr); }
  bool number_integer(number_integer_t v) { return number(static_cast<double>(v), nullptr, v, 0, 1); }
  bool number_unsigned(number_unsigned_t v) { return number(static_cast<double>(v), nullptr, 0, v, 2); }
  bool number_float(number_float_t v, const string_t& s) { return number(v, &s, 0, 0, 0); }
  bool string(string_t& s) { return primitive(Kind::string_, &s); }
  bool binary(binary_t&) { return primitive(Kind::null_, nullptr); }  // never produced by the JSON parser

  bool start_object(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(true); }
  bool end_array() { return close(); }

  bool key(string_t& k) {
    Frame& f = stack_.back();
    ptr_.resize(f.base_len);
    append_pointer_segment(ptr_, k);
    f.child_int = -1;
    if (!f.keys.insert(k)) {
      add(DiagCode::duplicate_key, ptr_,
          "expected each key once per object, found " + quote(k) +
              " again (hint: JSON parsers keep only the last value; remove one)");
    }
    switch (f.role) {
      case Role::root:
        if (k == "model_type") {
          f.child_role = Role::model_type;
          has_model_type = true;
        } else if (k == "kv_cache") {
          f.child_role = Role::kv_cache;
          has_kv_cache = true;
        } else {
          f.child_role = Role::unknown;
          warn_unknown();
        }
        break;
      case Role::kv_cache:
        if (k == "dtype") {
          f.child_role = Role::dtype;
          has_dtype = true;
        } else if (k == "scaling_factor") {
          f.child_role = Role::scaling_factor;
          has_scaling_factor = true;
        } else {
          f.child_role = Role::unknown;
          warn_unknown();
        }
        break;
      case Role::scaling_factor: {
        f.child_role = Role::rank;
        const std::int64_t r = canonical_index(k);
        if (r < 0) {
          noncanonical_ranks = true;
          add(DiagCode::key_not_canonical, ptr_,
              "expected a rank key in canonical decimal form (0, or 1-9 then digits, within int32), found " + quote(k) +
                  " (hint: vLLM coerces it to an integer; write the plain number)");
        } else if (ctx_ != nullptr && r >= ctx_->tp_size) {
          add(DiagCode::rank_unexpected, ptr_,
              "expected a rank in 0.." + std::to_string(ctx_->tp_size - 1) + " (tp_size " +
                  std::to_string(ctx_->tp_size) + "), found rank " + std::to_string(r));
        } else if (ctx_ == nullptr && r >= limits_.max_ranks) {
          add(DiagCode::too_many_ranks, ptr_,
              "expected rank indices below " + std::to_string(limits_.max_ranks) + ", found rank " + std::to_string(r));
        } else {
          f.child_int = r;
        }
        break;
      }
      case Role::rank: {
        f.child_role = Role::layer;
        const std::int64_t l = canonical_index(k);
        RankData* rd = f.rank_slot == npos ? nullptr : &ranks[f.rank_slot];
        if (l < 0) {
          if (rd) rd->noncanonical_layers = true;
          add(DiagCode::key_not_canonical, ptr_,
              "expected a layer key in canonical decimal form (0, or 1-9 then digits, within int32), found " +
                  quote(k) + " (hint: vLLM coerces it to an integer; write the plain number)");
        } else if (rd == nullptr) {
          // Rank excluded (non-canonical or out of range): values are still checked, sets are not.
        } else if (ctx_ != nullptr && l >= ctx_->num_hidden_layers) {
          add(DiagCode::layer_unexpected, ptr_,
              "expected a layer in 0.." + std::to_string(ctx_->num_hidden_layers - 1) + " (num_hidden_layers " +
                  std::to_string(ctx_->num_hidden_layers) + "), found layer " + std::to_string(l));
        } else if (ctx_ == nullptr && l >= limits_.max_layers) {
          add(DiagCode::too_many_layers, ptr_,
              "expected layer indices below " + std::to_string(limits_.max_layers) + ", found layer " +
                  std::to_string(l));
        } else {
          f.child_int = l;
        }
        break;
      }
      default: f.child_role = Role::unknown; break;
    }
    return !sink_.full();
  }

  /// True (and reported) when non-whitespace bytes follow the top-level value. nlohmann stops at a
  /// NUL byte as if the input ended there, so this is also checked after a successful parse.
  bool report_trailing() {
    std::size_t off = root_end;
    while (off < src_.size() && is_json_ws(src_[off])) ++off;
    if (off >= src_.size()) return false;
    const unsigned char c = static_cast<unsigned char>(src_[off]);
    char found[32];
    if (c > 0x20 && c < 0x7F)
      std::snprintf(found, sizeof found, "'%c'", c);
    else
      std::snprintf(found, sizeof found, "byte 0x%02X", static_cast<unsigned>(c));
    add(DiagCode::trailing_data, "",
        "expected the end of the file after the top-level object, found " + std::string(found) + " at byte " +
            std::to_string(off) + " (hint: a file holds exactly one JSON object)");
    return true;
  }

  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& ex) {
    if (aborted) return false;
    aborted = true;
    if (root_done) {
      report_trailing();
      return false;
    }
    std::string what = ex.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: detail" -> parts.
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
      add(DiagCode::invalid_utf8, ptr_,
          "expected text that UTF-8 can encode, found an unpaired UTF-16 surrogate escape " + where + " (byte " +
              std::to_string(position) + ")");
      return false;
    }
    add(DiagCode::syntax_error, ptr_,
        "expected valid JSON, found a syntax error " + where + " (byte " + std::to_string(position) + "): " + detail);
    return false;
  }

 private:
  enum class Kind { null_, boolean_, string_, number_, object_, array_ };

  static const char* kind_name(Kind k) {
    switch (k) {
      case Kind::null_: return "null";
      case Kind::boolean_: return "a boolean";
      case Kind::string_: return "a string";
      case Kind::number_: return "a number";
      case Kind::object_: return "an object";
      case Kind::array_: return "an array";
    }
    return "?";
  }

  void add(DiagCode c, const std::string& ptr, std::string msg) { sink_.add(c, ptr, std::move(msg)); }

  void warn_unknown() {
    if (warnings_.size() < limits_.max_diagnostics)
      warnings_.push_back({DiagCode::unknown_key, ptr_, "unknown key " + ptr_});
  }

  /// Role of the value about to be reported; also positions the pointer for array elements.
  Role value_role() {
    if (stack_.empty()) return Role::root;
    Frame& f = stack_.back();
    if (f.is_array) {
      ptr_.resize(f.base_len);
      ptr_ += '/';
      ptr_ += std::to_string(f.index++);
      return Role::unknown;
    }
    return f.child_role;
  }

  bool not_an_object(Kind k) {
    add(DiagCode::not_an_object, "", std::string("expected a JSON object at the top level, found ") + kind_name(k));
    aborted = true;
    return false;
  }

  /// Structure checks shared by every non-scale value. Returns false to abort.
  bool check_structure(Role role, Kind k, const string_t* s) {
    switch (role) {
      case Role::root: return not_an_object(k);
      case Role::model_type:
        if (k == Kind::string_) {
          model_type = *s;
          if (ctx_ && ctx_->model_type && *ctx_->model_type != *s)
            add(DiagCode::model_type_mismatch, ptr_,
                "expected model_type " + quote(*ctx_->model_type) + " (from the context), found " + quote(*s));
        } else if (k == Kind::null_) {
          model_type.reset();
          if (ctx_ && ctx_->model_type)
            add(DiagCode::model_type_mismatch, ptr_,
                "expected model_type " + quote(*ctx_->model_type) + " (from the context), found null");
        } else {
          add(DiagCode::wrong_type, ptr_, std::string("expected a string or null, found ") + kind_name(k));
        }
        break;
      case Role::kv_cache:
        if (k == Kind::object_)
          kv_cache_object = true;
        else
          add(DiagCode::wrong_type, ptr_, std::string("expected an object, found ") + kind_name(k));
        break;
      case Role::dtype:
        if (k == Kind::string_) {
          if (*s != kExpectedDtype)
            add(DiagCode::dtype_mismatch, ptr_,
                "expected \"float8_e4m3fn\", found " + quote(*s) +
                    " (hint: the scales are calibrated for e4m3fn; the cache format is chosen at load time)");
        } else {
          add(DiagCode::wrong_type, ptr_, std::string("expected a string, found ") + kind_name(k));
        }
        break;
      case Role::scaling_factor:
        if (k == Kind::object_)
          scaling_factor_object = true;
        else
          add(DiagCode::wrong_type, ptr_, std::string("expected an object (rank -> layers), found ") + kind_name(k));
        break;
      case Role::rank: {
        const Frame& parent = stack_.back();
        if (k != Kind::object_)
          add(DiagCode::wrong_type, ptr_, std::string("expected an object (layer -> scale), found ") + kind_name(k));
        if (parent.child_int >= 0) {
          ranks.emplace_back();
          ranks.back().rank = static_cast<std::int32_t>(parent.child_int);
          ranks.back().is_object = k == Kind::object_;
        }
        break;
      }
      case Role::layer:
        record_layer(std::numeric_limits<float>::quiet_NaN());
        add(DiagCode::scale_not_number, ptr_,
            std::string("expected a scale as a JSON number, found ") + kind_name(k) +
                (k == Kind::string_ ? " (hint: remove the quotes; vLLM converts strings silently)"
                                    : " (hint: write the scale as a number > 0)"));
        break;
      case Role::unknown: break;
    }
    return !sink_.full();
  }

  bool primitive(Kind k, string_t* s) {
    const Role role = value_role();
    return check_structure(role, k, s);
  }

  bool number(double d, const string_t* text, number_integer_t iv, number_unsigned_t uv, int which) {
    const std::uint64_t ord = num_ordinal_++;
    const Special* sp = nullptr;
    if (next_special_ < specials_.size() && specials_[next_special_].ordinal == ord) sp = &specials_[next_special_++];
    const Role role = value_role();
    if (sp != nullptr && sp->kind != SpecialKind::overflow) {
      if (role == Role::root) return not_an_object(Kind::number_);
      if (role == Role::layer) record_layer(std::numeric_limits<float>::quiet_NaN());
      add(DiagCode::nan_or_infinity, ptr_,
          "expected a JSON number, found the non-standard token " + sp->text + " at byte " +
              std::to_string(sp->offset) + " (hint: JSON has no NaN or Infinity; write a finite scale > 0)");
      return !sink_.full();
    }
    if (role != Role::layer) return check_structure(role, Kind::number_, nullptr);
    record_layer(static_cast<float>(d));
    // A scale: decimal -> nearest double (strtod) -> float32 by one cast, as vLLM/torch do.
    const auto text_of = [&]() -> std::string {
      if (sp != nullptr) return sp->text;
      if (which == 1) return std::to_string(iv);
      if (which == 2) return std::to_string(uv);
      return number_text(*text);
    };
    const float f = static_cast<float>(d);
    if (sp != nullptr || !std::isfinite(f) || !(f > 0.0f)) {
      std::string why;
      if (sp != nullptr)
        why = " (beyond the double range)";
      else if (std::isinf(f))
        why = " (inf as float32)";
      else if (f == 0.0f && d != 0.0)
        why = d > 0 ? " (0 as float32)" : " (-0 as float32)";
      add(DiagCode::scale_out_of_range, ptr_,
          "expected a finite float32 scale > 0, found " + text_of() + why +
              " (hint: scales are amax / 448 of a calibration run)");
      return !sink_.full();
    }
    return true;
  }

  /// Layer presence (V3) and, for valid scales, the value. Only canonical, in-range keys count.
  void record_layer(float value) {
    const Frame& parent = stack_.back();
    if (parent.child_int >= 0 && parent.rank_slot != npos)
      ranks[parent.rank_slot].layers.push_back({static_cast<std::int32_t>(parent.child_int), value});
  }

  bool open(bool is_array) {
    const Role role = value_role();
    if (stack_.size() + 1 > static_cast<std::size_t>(limits_.max_depth)) {
      add(DiagCode::nesting_too_deep, ptr_,
          "expected JSON nesting of at most " + std::to_string(limits_.max_depth) + " levels, found level " +
              std::to_string(stack_.size() + 1));
      aborted = true;
      return false;
    }
    Role new_role = Role::unknown;
    std::size_t rank_slot = npos;
    if (role == Role::root) {
      if (is_array) return not_an_object(Kind::array_);
      new_role = Role::root;
    } else {
      const std::size_t before = ranks.size();
      if (!check_structure(role, is_array ? Kind::array_ : Kind::object_, nullptr)) return false;
      if (!is_array) {
        if (role == Role::kv_cache) new_role = Role::kv_cache;
        if (role == Role::scaling_factor) new_role = Role::scaling_factor;
        if (role == Role::rank) {
          new_role = Role::rank;
          if (ranks.size() > before) rank_slot = before;
        }
      }
    }
    stack_.push_back(Frame{new_role, is_array, ptr_.size(), 0, Role::unknown, -1, rank_slot, KeySet{}});
    return true;
  }

  bool close() {
    stack_.pop_back();
    if (stack_.empty()) {
      root_done = true;
      root_end = static_cast<std::size_t>(*cursor - src_.data());
    } else {
      ptr_.resize(stack_.back().base_len);
    }
    return true;
  }

  std::string_view src_;
  const std::vector<Special>& specials_;
  const LoadLimits& limits_;
  const LoadContext* ctx_;  // null when absent or invalid
  Sink& sink_;
  std::vector<Diagnostic>& warnings_;
  std::vector<Frame> stack_;
  std::string ptr_;
  std::uint64_t num_ordinal_ = 0;
  std::size_t next_special_ = 0;
};

/// Input iterator over the bytes that publishes its position (for the trailing-data offset).
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

// ---------------------------------------------------------------------------------------------

LoadLimits clamp_limits(const LoadLimits& in) {
  const LoadLimits d;
  LoadLimits l = in;
  l.max_file_bytes = std::min(l.max_file_bytes, d.max_file_bytes);
  l.max_depth = std::max(1, std::min(l.max_depth, d.max_depth));
  l.max_ranks = std::max(1, std::min(l.max_ranks, d.max_ranks));
  l.max_layers = std::max(1, std::min(l.max_layers, d.max_layers));
  l.max_diagnostics = std::min(l.max_diagnostics, d.max_diagnostics * 100);
  return l;
}

/// Context checks; returns true if the context can drive the set checks.
bool check_context(const LoadContext& c, const LoadLimits& lim, Sink& sink) {
  bool ok = true;
  if (c.tp_size <= 0) {
    sink.add(DiagCode::invalid_context, "", "expected tp_size >= 1 in the context, found " + std::to_string(c.tp_size));
    ok = false;
  } else if (c.tp_size > lim.max_ranks) {
    sink.add(
        DiagCode::too_many_ranks, "",
        "expected tp_size <= " + std::to_string(lim.max_ranks) + " in the context, found " + std::to_string(c.tp_size));
    ok = false;
  }
  if (c.num_hidden_layers < 0) {
    sink.add(DiagCode::invalid_context, "",
             "expected num_hidden_layers >= 0 in the context, found " + std::to_string(c.num_hidden_layers));
    ok = false;
  } else if (c.num_hidden_layers > lim.max_layers) {
    sink.add(DiagCode::too_many_layers, "",
             "expected num_hidden_layers <= " + std::to_string(lim.max_layers) + " in the context, found " +
                 std::to_string(c.num_hidden_layers));
    ok = false;
  }
  if (c.tp_rank < 0 || (c.tp_size > 0 && c.tp_rank >= c.tp_size)) {
    sink.add(DiagCode::tp_rank_out_of_range, "",
             c.tp_size > 0 ? "expected tp_rank in 0.." + std::to_string(c.tp_size - 1) + " (tp_size " +
                                 std::to_string(c.tp_size) + "), found " + std::to_string(c.tp_rank)
                           : "expected tp_rank >= 0, found " + std::to_string(c.tp_rank));
  }
  return ok;
}

const std::string kSfPointer = "/kv_cache/scaling_factor";

void run(std::string_view bytes, std::string* owned, const LoadOptions& opt, const LoadLimits& lim, Sink& sink,
         LoadResult& res) {
  const LoadContext* ctx = nullptr;
  if (opt.context) {
    if (check_context(*opt.context, lim, sink)) ctx = &*opt.context;
  }
  if (bytes.size() > lim.max_file_bytes) {
    sink.add(DiagCode::file_too_large, "",
             "expected at most " + std::to_string(lim.max_file_bytes) + " bytes, found " +
                 std::to_string(bytes.size()) + " bytes");
    return;
  }
  Prescan pre = prescan(bytes, sink);
  if (!pre.ok) return;
  std::string patched_copy;
  std::string_view src = bytes;
  if (!pre.specials.empty()) {
    // Blank the tokens nlohmann cannot represent to "0" + spaces (same length, same structure).
    char* w;
    if (owned != nullptr) {
      w = owned->data();
    } else {
      patched_copy.assign(bytes.data(), bytes.size());
      w = patched_copy.data();
    }
    for (const Special& s : pre.specials) {
      w[s.offset] = '0';
      std::memset(w + s.offset + 1, ' ', s.length - 1);
    }
    src = std::string_view(w, bytes.size());
  }
  std::vector<Diagnostic> warnings;
  Validator v(src, pre.specials, lim, ctx, sink, warnings);
  const char* pos = src.data();
  v.cursor = &pos;
  CountingIterator first{src.data(), &pos}, last{src.data() + src.size(), &pos};
  const bool parsed = nlohmann::json::sax_parse(first, last, &v, nlohmann::json::input_format_t::json, true, false);
  res.warnings = std::move(warnings);
  if (!parsed || v.aborted || sink.full()) return;
  if (v.report_trailing()) return;

  // Required keys (V6); the pointer names the parent object.
  if (!v.has_model_type) sink.add(DiagCode::missing_key, "", "expected key \"model_type\", found no such key");
  if (!v.has_kv_cache) sink.add(DiagCode::missing_key, "", "expected key \"kv_cache\", found no such key");
  if (v.kv_cache_object) {
    if (!v.has_dtype) sink.add(DiagCode::missing_key, "/kv_cache", "expected key \"dtype\", found no such key");
    if (!v.has_scaling_factor)
      sink.add(DiagCode::missing_key, "/kv_cache", "expected key \"scaling_factor\", found no such key");
  }
  if (!v.scaling_factor_object) return;

  // V2 / V3 set checks. The last occurrence of a rank wins (it is a duplicate_key anyway).
  std::int64_t n_ranks = 0;
  if (ctx) {
    n_ranks = ctx->tp_size;
  } else {
    for (const RankData& r : v.ranks) n_ranks = std::max<std::int64_t>(n_ranks, std::int64_t{r.rank} + 1);
  }
  std::vector<std::size_t> slot(static_cast<std::size_t>(n_ranks), npos);
  for (std::size_t i = 0; i < v.ranks.size(); ++i)
    if (v.ranks[i].rank < n_ranks) slot[static_cast<std::size_t>(v.ranks[i].rank)] = i;
  if (!v.noncanonical_ranks) {
    for (std::int64_t r = 0; r < n_ranks && !sink.full(); ++r)
      if (slot[static_cast<std::size_t>(r)] == npos)
        sink.add(DiagCode::rank_missing, kSfPointer,
                 "expected rank \"" + std::to_string(r) + "\" (ranks 0.." + std::to_string(n_ranks - 1) +
                     "), found no such key");
  }
  std::int64_t n_layers = 0;
  if (ctx) {
    n_layers = ctx->num_hidden_layers;
  } else {
    for (std::size_t s : slot)
      if (s != npos)
        for (const LayerEntry& e : v.ranks[s].layers)
          n_layers = std::max<std::int64_t>(n_layers, std::int64_t{e.layer} + 1);
  }
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(n_layers));
  for (std::int64_t r = 0; r < n_ranks && !sink.full(); ++r) {
    const std::size_t s = slot[static_cast<std::size_t>(r)];
    if (s == npos || !v.ranks[s].is_object || v.ranks[s].noncanonical_layers) continue;
    std::fill(seen.begin(), seen.end(), std::uint8_t{0});
    for (const LayerEntry& e : v.ranks[s].layers) seen[static_cast<std::size_t>(e.layer)] = 1;
    const std::string ptr = kSfPointer + "/" + std::to_string(r);
    for (std::int64_t l = 0; l < n_layers && !sink.full(); ++l)
      if (!seen[static_cast<std::size_t>(l)])
        sink.add(DiagCode::layer_missing, ptr,
                 "expected layer \"" + std::to_string(l) + "\" (layers 0.." + std::to_string(n_layers - 1) +
                     "), found no such key");
  }
  if (!ctx && sink.diags().empty()) {
    // Without a context the file must be loadable as tp_size = n, num_hidden_layers = L, which
    // needs n >= 1 and L >= 1: an empty table would pass ok() and then be indexed out of range.
    if (n_ranks == 0) {
      sink.add(DiagCode::rank_missing, kSfPointer, "expected at least rank \"0\", found no ranks");
    } else if (n_layers == 0) {
      for (std::int64_t r = 0; r < n_ranks && !sink.full(); ++r)
        sink.add(DiagCode::layer_missing, kSfPointer + "/" + std::to_string(r),
                 "expected at least layer \"0\", found no layers");
    }
  }
  if (!sink.diags().empty()) return;
  // Every rank has every layer, so the table is no larger than the file's entries.
  std::vector<float> table(static_cast<std::size_t>(n_ranks * n_layers));
  for (std::int64_t r = 0; r < n_ranks; ++r)
    for (const LayerEntry& e : v.ranks[slot[static_cast<std::size_t>(r)]].layers)
      table[static_cast<std::size_t>(r * n_layers + e.layer)] = e.value;
  v.ranks.clear();
  v.ranks.shrink_to_fit();
  res.table =
      ScaleTable(static_cast<int>(n_ranks), static_cast<int>(n_layers), std::move(table), std::move(v.model_type));
}

void finish(const LoadOptions& opt, const LoadLimits& lim, Sink& sink, LoadResult& res) {
  res.diagnostics = std::move(sink.diags());
  if (res.diagnostics.empty() || opt.on_failure != FailurePolicy::unit_fallback || !opt.context) return;
  const LoadContext& c = *opt.context;
  if (c.tp_size <= 0 || c.tp_size > lim.max_ranks || c.num_hidden_layers < 0 || c.num_hidden_layers > lim.max_layers)
    return;  // no meaningful fallback for an invalid context
  try {
    res.table = ScaleTable(
        c.tp_size, c.num_hidden_layers,
        std::vector<float>(static_cast<std::size_t>(c.tp_size) * static_cast<std::size_t>(c.num_hidden_layers), 1.0f),
        c.model_type);
    res.used_fallback = true;
  } catch (const std::bad_alloc&) {
    res.diagnostics.push_back({DiagCode::out_of_memory, "", "expected memory for the fallback table, found none"});
  }
}

LoadResult load_bytes(std::string_view bytes, std::string* owned, const LoadOptions& options) noexcept {
  LoadResult res;
  const LoadLimits lim = clamp_limits(options.limits);
  try {
    Sink sink(lim.max_diagnostics);
    try {
      run(bytes, owned, options, lim, sink, res);
    } catch (const std::bad_alloc&) {
      res.table = ScaleTable();
      sink.diags().push_back({DiagCode::out_of_memory, "", "expected enough host memory to load, found none"});
    } catch (const std::exception& e) {
      res.table = ScaleTable();
      sink.diags().push_back({DiagCode::syntax_error, "",
                              std::string("expected parsable JSON, found an internal parser error: ") + e.what()});
    }
    finish(options, lim, sink, res);
  } catch (...) {
    res = LoadResult();
    try {
      res.diagnostics.push_back({DiagCode::out_of_memory, "", "expected enough host memory to load, found none"});
    } catch (...) {
    }
  }
  return res;
}

const char* file_type_name(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "something that is not a regular file";
}

}  // namespace

LoadResult load_scales_json(std::string_view bytes, const LoadOptions& options) noexcept {
  return load_bytes(bytes, nullptr, options);
}

LoadResult load_scales_file(const std::string& path, const LoadOptions& options) noexcept {
  const LoadLimits lim = clamp_limits(options.limits);
  const auto io_fail = [&](DiagCode c, std::string msg) noexcept {
    LoadResult res;
    try {
      Sink sink(lim.max_diagnostics);
      if (options.context) check_context(*options.context, lim, sink);
      sink.add(c, "", std::move(msg));
      finish(options, lim, sink, res);
    } catch (...) {
      res = LoadResult();
    }
    return res;
  };
  try {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
      const int e = errno;
      if (e == ENOENT || e == ENOTDIR || path.empty())
        return io_fail(DiagCode::file_not_found, "expected a file, found nothing at this path");
      if (e == EACCES) return io_fail(DiagCode::permission_denied, "expected read permission, found access denied");
      return io_fail(DiagCode::read_error,
                     std::string("expected to read the file, found an error: ") + std::strerror(e));
    }
    if (!S_ISREG(st.st_mode))
      return io_fail(DiagCode::not_a_regular_file,
                     std::string("expected a regular file, found ") + file_type_name(st.st_mode));
    const auto too_large = [&](std::string found) {
      return io_fail(DiagCode::file_too_large,
                     "expected at most " + std::to_string(lim.max_file_bytes) + " bytes, found " + found);
    };
    if (static_cast<std::uint64_t>(st.st_size) > lim.max_file_bytes)
      return too_large(std::to_string(static_cast<std::uint64_t>(st.st_size)) + " bytes");
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
      const int e = errno;
      if (e == EACCES || e == EPERM)
        return io_fail(DiagCode::permission_denied, "expected read permission, found access denied");
      if (e == ENOENT) return io_fail(DiagCode::file_not_found, "expected a file, found nothing at this path");
      return io_fail(DiagCode::read_error,
                     std::string("expected to open the file, found an error: ") + std::strerror(e));
    }
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat st2 {};
    if (::fstat(fd, &st2) != 0 || !S_ISREG(st2.st_mode))
      return io_fail(DiagCode::not_a_regular_file,
                     std::string("expected a regular file, found ") + file_type_name(st2.st_mode));
    // Read at most limit + 1 bytes: a file that grew past the limit is still refused.
    std::string buf;
    const std::uint64_t want = std::min<std::uint64_t>(static_cast<std::uint64_t>(st2.st_size), lim.max_file_bytes);
    buf.resize(static_cast<std::size_t>(want) + 1);
    std::size_t got = 0;
    for (;;) {
      if (got == buf.size()) {
        if (got > lim.max_file_bytes) return too_large("more than " + std::to_string(lim.max_file_bytes) + " bytes");
        buf.resize(std::min<std::size_t>(buf.size() * 2, static_cast<std::size_t>(lim.max_file_bytes) + 1));
      }
      const ssize_t r = ::read(fd, buf.data() + got, buf.size() - got);
      if (r < 0) {
        if (errno == EINTR) continue;
        return io_fail(DiagCode::read_error,
                       std::string("expected to read the whole file, found an error: ") + std::strerror(errno));
      }
      if (r == 0) break;
      got += static_cast<std::size_t>(r);
    }
    if (got > lim.max_file_bytes) return too_large("more than " + std::to_string(lim.max_file_bytes) + " bytes");
    buf.resize(got);
    return load_bytes(buf, &buf, options);
  } catch (const std::bad_alloc&) {
    LoadResult res;
    try {
      res.diagnostics.push_back({DiagCode::out_of_memory, "", "expected enough host memory to load, found none"});
    } catch (...) {
    }
    return res;
  } catch (...) {
    LoadResult res;
    try {
      res.diagnostics.push_back({DiagCode::read_error, "", "expected to read the file, found an unexpected error"});
    } catch (...) {
    }
    return res;
  }
}

ScaleTable load_scales_file_or_throw(const std::string& path, const LoadContext& context) {
  LoadOptions o;
  o.context = context;
  LoadResult r = load_scales_file(path, o);
  if (!r.ok()) throw LoadError(std::move(r.diagnostics));
  return std::move(r.table);
}

}  // namespace kvscale
