// The safetensors container reader (spec docs/checkpoint-scales.md, S rules). See safetensors.hpp
// for the decisions where kvscale is stricter than the reference implementation.
//
// Order of the checks, and so of the diagnostics:
//   S1  length prefix: at least 8 bytes; N <= max_header_bytes; 8 + N <= file size (before reading)
//   S2  the header through the shared JSON reader (H2 duplicates, H4, H6 depth, H7); S1's
//       "top level is an object" is reported as safetensors_header_invalid
//   S6  at most max_tensors tensors (checked before any tensor is looked at)
//   S3  __metadata__
//   S4  each tensor entry, in key order
//   S5  each tensor's size and bounds, then (when every entry has usable offsets) the coverage of
//       the data buffer: sorted by offset, no gap, no overlap, nothing after the last tensor
#include "safetensors.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <limits>
#include <new>
#include <nlohmann/json.hpp>
#include <utility>

#include "json_reader.hpp"
#include "read_file.hpp"
#include "text.hpp"

namespace kvscale {
namespace loader {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t kSpecMaxHeaderBytes = 100000000;     // S1
constexpr std::int64_t kSpecMaxTensors = 1000000;            // S6
constexpr std::uint64_t kMaxNumel = std::uint64_t{1} << 62;  // S4
constexpr int kSpecMaxDepth = 64;                            // H6

struct DtypeInfo {
  StDtype dtype;
  const char* name;
  unsigned bits;
};
// In the reference's order (increasing alignment), which is also the order hints list them in.
constexpr DtypeInfo kDtypes[] = {
    {StDtype::BOOL, "BOOL", 8},
    {StDtype::F4, "F4", 4},
    {StDtype::F6_E2M3, "F6_E2M3", 6},
    {StDtype::F6_E3M2, "F6_E3M2", 6},
    {StDtype::U8, "U8", 8},
    {StDtype::I8, "I8", 8},
    {StDtype::F8_E5M2, "F8_E5M2", 8},
    {StDtype::F8_E4M3, "F8_E4M3", 8},
    {StDtype::F8_E8M0, "F8_E8M0", 8},
    {StDtype::F8_E4M3FNUZ, "F8_E4M3FNUZ", 8},
    {StDtype::F8_E5M2FNUZ, "F8_E5M2FNUZ", 8},
    {StDtype::I16, "I16", 16},
    {StDtype::U16, "U16", 16},
    {StDtype::F16, "F16", 16},
    {StDtype::BF16, "BF16", 16},
    {StDtype::I32, "I32", 32},
    {StDtype::U32, "U32", 32},
    {StDtype::F32, "F32", 32},
    {StDtype::C64, "C64", 64},
    {StDtype::F64, "F64", 64},
    {StDtype::I64, "I64", 64},
    {StDtype::U64, "U64", 64},
};

const DtypeInfo* dtype_info(StDtype d) noexcept {
  for (const DtypeInfo& i : kDtypes)
    if (i.dtype == d) return &i;
  return nullptr;
}

// ---------------------------------------------------------------------------------------------
// Message helpers

/// What a JSON value is, for "found ..." (scalars with their value).
std::string describe(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return v.get<bool>() ? "true" : "false";
    case json::value_t::string: return "the string " + quote(v.get_ref<const json::string_t&>());
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
    case json::value_t::number_float: return "the number " + v.dump();
    case json::value_t::array: return "an array of " + std::to_string(v.size()) + " elements";
    case json::value_t::object: return "an object";
    default: return "a value of another type";
  }
}

std::string u64s(std::uint64_t v) { return std::to_string(v); }

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += u64s(shape[i]);
  }
  return s + "]";
}

std::string dtype_list_hint() {
  std::string s;
  for (const DtypeInfo& i : kDtypes) {
    if (!s.empty()) s += ", ";
    s += i.name;
  }
  return s;
}

/// A non-negative integer that fits in u64 (what serde's usize accepts on 64-bit hosts).
bool as_u64(const json& v, std::uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<std::uint64_t>();
    return true;
  }
  if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    if (i < 0) return false;
    *out = static_cast<std::uint64_t>(i);
    return true;
  }
  return false;
}

/// numel x bits / 8 without overflow. False when the size exceeds 2^64 - 1 bytes. *whole is false
/// when numel x bits is not a multiple of 8 (sub-byte dtypes).
bool tensor_bytes(std::uint64_t numel, unsigned bits, std::uint64_t* bytes, bool* whole) {
  const std::uint64_t hi = numel / 8;       // <= 2^59
  const std::uint64_t lo = numel % 8;       // < 8
  const std::uint64_t lo_bits = lo * bits;  // < 512
  *whole = (lo_bits % 8) == 0;
  if (hi > std::numeric_limits<std::uint64_t>::max() / bits) return false;
  const std::uint64_t a = hi * bits;
  const std::uint64_t b = lo_bits / 8;
  if (a > std::numeric_limits<std::uint64_t>::max() - b) return false;
  *bytes = a + b;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Header checks

/// One tensor's offsets, for the S5 coverage check. `name` points into the parsed header.
struct Span {
  std::uint64_t begin;
  std::uint64_t end;
  const std::string* name;
};

/// S3: "__metadata__" is an object of string -> string.
bool check_metadata(const json& meta, Sink& sink) {
  const std::string ptr = "/__metadata__";
  if (!meta.is_object()) {
    sink.add(DiagCode::safetensors_metadata_invalid, ptr,
             "expected __metadata__ to be an object of string -> string, found " + describe(meta));
    return false;
  }
  bool ok = true;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    if (it.value().is_string()) continue;
    ok = false;
    if (!sink.add(DiagCode::safetensors_metadata_invalid, ptr + pointer_to(it.key()),
                  "expected a string value in __metadata__, found " + describe(it.value()) +
                      " (hint: writers store every metadata value as a string, e.g. \"1\")"))
      break;
  }
  return ok;
}

/// What check_tensor learned about one entry.
struct TensorCheck {
  bool valid = false;         ///< S4 and the per-tensor S5 checks passed.
  bool have_offsets = false;  ///< data_offsets parsed with begin <= end <= data_bytes (coverage usable).
  StTensor tensor;            ///< filled as far as it could be parsed (name left empty)
};

/// S4: only the keys dtype, shape and data_offsets (the others reported in key order).
bool check_entry_keys(const std::string& base, const json& v, Sink& sink) {
  bool ok = true;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    if (k == "dtype" || k == "shape" || k == "data_offsets") continue;
    ok = false;
    sink.add(DiagCode::safetensors_tensor_invalid, base + pointer_to(k),
             "expected only the keys dtype, shape and data_offsets in a tensor entry, found the key " + quote(k) +
                 " (kvscale refuses entries it does not fully understand)");
  }
  return ok;
}

/// S4 "dtype": a safetensors dtype name, into tc->tensor.dtype.
bool check_dtype(const std::string& base, const json& v, Sink& sink, TensorCheck* tc) {
  auto d = v.find("dtype");
  if (d == v.end()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base, "expected the key \"dtype\" in a tensor entry, found none");
    return false;
  }
  if (!d->is_string()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/dtype",
             "expected a dtype string such as \"F32\", found " + describe(*d));
    return false;
  }
  const std::string& s = d->get_ref<const json::string_t&>();
  if (st_dtype_from_name(s, &tc->tensor.dtype)) return true;
  std::string upper = s;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  StDtype guess{};
  const std::string hint = (upper != s && st_dtype_from_name(upper, &guess))
                               ? " (hint: dtype names are upper case: " + quote(upper) + ")"
                               : " (one of " + dtype_list_hint() + ")";
  sink.add(DiagCode::safetensors_tensor_invalid, base + "/dtype",
           "expected a safetensors dtype, found " + quote(s) + hint);
  return false;
}

/// S4 "shape": non-negative dimensions (into tc->tensor.shape, as far as they parse) whose product
/// stays <= 2^62 at every step, left to right as the reference multiplies; *numel is the product.
bool check_shape(const std::string& base, const json& v, Sink& sink, TensorCheck* tc, std::uint64_t* numel) {
  auto sh = v.find("shape");
  if (sh == v.end()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base, "expected the key \"shape\" in a tensor entry, found none");
    return false;
  }
  if (!sh->is_array()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/shape",
             "expected the shape as an array of non-negative integers, found " + describe(*sh));
    return false;
  }
  tc->tensor.shape.reserve(sh->size());
  for (std::size_t i = 0; i < sh->size(); ++i) {
    std::uint64_t dim = 0;
    if (!as_u64((*sh)[i], &dim)) {
      sink.add(DiagCode::safetensors_tensor_invalid, base + "/shape/" + std::to_string(i),
               "expected a non-negative integer dimension, found " + describe((*sh)[i]));
      return false;
    }
    tc->tensor.shape.push_back(dim);
  }
  *numel = 1;
  for (std::uint64_t dim : tc->tensor.shape) {
    if (dim != 0 && *numel > kMaxNumel / dim) {
      sink.add(DiagCode::safetensors_tensor_invalid, base + "/shape",
               "expected a shape whose product is at most 2^62, found " + shape_text(tc->tensor.shape));
      return false;
    }
    *numel *= dim;
  }
  return true;
}

/// S4/S5 "data_offsets": [begin, end] with begin <= end <= data_bytes, into tc (have_offsets).
bool check_offsets(const std::string& base, const json& v, std::uint64_t data_bytes, Sink& sink, TensorCheck* tc) {
  std::uint64_t begin = 0, end = 0;
  auto off = v.find("data_offsets");
  if (off == v.end()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base,
             "expected the key \"data_offsets\" in a tensor entry, found none");
  } else if (!off->is_array() || off->size() != 2) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/data_offsets",
             "expected data_offsets as [begin, end], found " + describe(*off));
  } else if (!as_u64((*off)[0], &begin)) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/data_offsets/0",
             "expected a non-negative integer offset, found " + describe((*off)[0]));
  } else if (!as_u64((*off)[1], &end)) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/data_offsets/1",
             "expected a non-negative integer offset, found " + describe((*off)[1]));
  } else if (begin > end) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/data_offsets",
             "expected begin <= end, found [" + u64s(begin) + ", " + u64s(end) + "]");
  } else if (end > data_bytes) {
    sink.add(DiagCode::safetensors_offsets_invalid, base + "/data_offsets",
             "expected end <= " + u64s(data_bytes) +
                 " (the data buffer's size: file size - 8 - header length), found " + u64s(end) +
                 " (hint: the file may be truncated)");
  } else {
    tc->have_offsets = true;
    tc->tensor.begin = begin;
    tc->tensor.end = end;
    return true;
  }
  return false;
}

/// S5: numel elements of the dtype are a whole number of bytes and, where the offsets parsed,
/// exactly end - begin of them.
bool check_byte_count(const std::string& base, std::uint64_t numel, Sink& sink, const TensorCheck& tc) {
  const unsigned bits = st_dtype_bits(tc.tensor.dtype);
  const std::uint64_t begin = tc.tensor.begin, end = tc.tensor.end;
  std::uint64_t want = 0;
  bool whole = true;
  const bool fits = tensor_bytes(numel, bits, &want, &whole);
  if (!whole) {
    sink.add(DiagCode::safetensors_tensor_invalid, base + "/shape",
             "expected a whole number of bytes, found " + u64s(numel) + " elements of " +
                 st_dtype_name(tc.tensor.dtype) + " (" + std::to_string(bits) + " bits each)");
    return false;
  }
  if (tc.have_offsets && (!fits || end - begin != want)) {
    sink.add(DiagCode::safetensors_offsets_invalid, base + "/data_offsets",
             "expected end - begin = " + (fits ? u64s(want) : std::string("more than 2^64")) + " bytes (shape " +
                 shape_text(tc.tensor.shape) + " of " + st_dtype_name(tc.tensor.dtype) + "), found " +
                 u64s(end - begin) + " ([" + u64s(begin) + ", " + u64s(end) + "])");
    return false;
  }
  return true;
}

/// S4 and the per-tensor part of S5 for one entry, each key's diagnostics in turn.
void check_tensor(const std::string& name, const json& v, std::uint64_t data_bytes, Sink& sink, TensorCheck* tc) {
  const std::string base = pointer_to(name);
  if (!v.is_object()) {
    sink.add(DiagCode::safetensors_tensor_invalid, base,
             "expected a tensor entry {\"dtype\", \"shape\", \"data_offsets\"}, found " + describe(v));
    return;
  }
  const bool keys_ok = check_entry_keys(base, v, sink);
  const bool dtype_ok = check_dtype(base, v, sink, tc);
  std::uint64_t numel = 1;
  const bool shape_ok = check_shape(base, v, sink, tc, &numel);
  const bool offsets_ok = check_offsets(base, v, data_bytes, sink, tc);
  const bool bytes_ok = !(dtype_ok && shape_ok) || check_byte_count(base, numel, sink, *tc);
  tc->valid = keys_ok && dtype_ok && shape_ok && offsets_ok && bytes_ok;
}

/// S5: sorted by offset, the tensors cover [0, data_bytes) exactly.
bool check_coverage(std::vector<Span>& spans, std::uint64_t data_bytes, Sink& sink) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.end != b.end) return a.end < b.end;
    return *a.name < *b.name;
  });
  bool ok = true;
  std::uint64_t cursor = 0;
  const std::string* prev = nullptr;
  for (const Span& s : spans) {
    const std::string ptr = pointer_to(*s.name) + "/data_offsets";
    const std::string after = prev ? "the end of " + quote(*prev) : std::string("the start of the data buffer");
    if (s.begin > cursor) {
      ok = false;
      if (!sink.add(DiagCode::safetensors_offsets_invalid, ptr,
                    "expected begin = " + u64s(cursor) + " (" + after + "), found " + u64s(s.begin) + ": a gap of " +
                        u64s(s.begin - cursor) + " bytes no tensor describes"))
        return false;
    } else if (s.begin < cursor) {
      ok = false;
      if (!sink.add(DiagCode::safetensors_offsets_invalid, ptr,
                    "expected begin = " + u64s(cursor) + " (" + after + "), found " + u64s(s.begin) + ": " +
                        (s.end == s.begin ? std::string("a zero-size tensor inside ")
                                          : u64s(std::min(cursor, s.end) - s.begin) + " bytes overlap ") +
                        quote(*prev)))
        return false;
    }
    if (s.end >= cursor) {
      cursor = s.end;
      prev = s.name;
    }
  }
  if (cursor != data_bytes) {  // cursor < data_bytes: every end was checked against data_bytes
    ok = false;
    sink.add(DiagCode::safetensors_offsets_invalid, "",
             "expected the tensors to cover the data buffer's " + u64s(data_bytes) + " bytes, found " +
                 u64s(data_bytes - cursor) + " bytes after " +
                 (prev ? "the last tensor, " + quote(*prev) + ", which ends at " + u64s(cursor)
                       : std::string("the header, and no tensor")));
  }
  return ok;
}

// ---------------------------------------------------------------------------------------------
// I/O helpers

/// Reads len bytes at off into buf; returns 0 and *got == len, or 0 with *got < len at end of file,
/// or an errno value. Retries EINTR and partial reads.
int pread_full(int fd, void* buf, std::size_t len, std::uint64_t off, std::size_t* got) {
  *got = 0;
  char* p = static_cast<char*>(buf);
  while (*got < len) {
    const std::uint64_t at = off + *got;
    if (at > static_cast<std::uint64_t>(std::numeric_limits<off_t>::max())) return EOVERFLOW;
    const ssize_t r = ::pread(fd, p + *got, len - *got, static_cast<off_t>(at));
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return 0;
    *got += static_cast<std::size_t>(r);
  }
  return 0;
}

/// Reads exactly len bytes at off, or reports read_error.
bool read_exact(int fd, void* buf, std::size_t len, std::uint64_t off, const char* what, Sink& sink) {
  std::size_t got = 0;
  const int e = pread_full(fd, buf, len, off, &got);
  if (e != 0) {
    sink.add(DiagCode::read_error, "",
             std::string("expected to read ") + what + ", found an error: " + std::strerror(e));
    return false;
  }
  if (got < len) {
    sink.add(DiagCode::read_error, "",
             std::string("expected ") + std::to_string(len) + " bytes of " + what + " at offset " + u64s(off) +
                 ", found the end of the file after " + std::to_string(got) + " (did the file change while reading?)");
    return false;
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

unsigned st_dtype_bits(StDtype d) noexcept {
  const DtypeInfo* i = dtype_info(d);
  return i ? i->bits : 0;
}

std::size_t st_dtype_size(StDtype d) noexcept {
  const unsigned b = st_dtype_bits(d);
  return b % 8 == 0 ? b / 8 : 0;
}

const char* st_dtype_name(StDtype d) noexcept {
  const DtypeInfo* i = dtype_info(d);
  return i ? i->name : "?";
}

bool st_dtype_from_name(std::string_view name, StDtype* out) noexcept {
  for (const DtypeInfo& i : kDtypes) {
    if (name == i.name) {
      *out = i.dtype;
      return true;
    }
  }
  return false;
}

bool check_safetensors_prefix(std::string_view prefix, std::uint64_t file_size, const LoadLimits& limits, Sink& sink,
                              std::uint64_t* header_bytes) {
  if (file_size < 8 || prefix.size() < 8) {
    sink.add(DiagCode::safetensors_header_invalid, "",
             "expected at least 8 bytes (the header length), found a file of " + u64s(file_size) + " bytes");
    return false;
  }
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(prefix[static_cast<std::size_t>(i)]);
  const std::uint64_t max_header = std::min(limits.max_header_bytes, kSpecMaxHeaderBytes);
  const std::string looks_json =
      prefix[0] == '{' ? " (hint: the file starts with '{': is it JSON rather than safetensors?)" : "";
  if (n > max_header) {
    sink.add(DiagCode::safetensors_header_invalid, "",
             "expected a header length of at most " + u64s(max_header) + " bytes, found " + u64s(n) + looks_json);
    return false;
  }
  if (n > file_size - 8) {
    sink.add(DiagCode::safetensors_header_invalid, "",
             "expected a header length of at most " + u64s(file_size - 8) + " bytes (the file size " + u64s(file_size) +
                 " - 8), found " + u64s(n) +
                 (looks_json.empty() ? std::string(" (hint: the file may be truncated)") : looks_json));
    return false;
  }
  *header_bytes = n;
  return true;
}

namespace {

/// S1 / S2: the header through the shared JSON reader, into *doc. Its diagnostics are forwarded,
/// with not_an_object (the top level) as S1's safetensors_header_invalid.
bool parse_header_json(std::string_view text, std::uint64_t max_header, const LoadLimits& limits, Sink& sink,
                       json* doc) {
  JsonLimits jl;
  jl.max_bytes = max_header;
  jl.max_depth = std::max(1, std::min(limits.max_depth, kSpecMaxDepth));
  Sink inner(limits.max_diagnostics);
  const bool parsed = parse_json_document(text, jl, inner, doc);
  bool forwarded = false;
  for (Diagnostic& d : inner.diags()) {
    if (d.code == DiagCode::too_many_diagnostics) continue;
    forwarded = true;
    if (d.code == DiagCode::not_an_object) {
      sink.add(DiagCode::safetensors_header_invalid, std::move(d.pointer),
               std::move(d.message) + " (a safetensors header is a JSON object)");
    } else {
      sink.add(d.code, std::move(d.pointer), std::move(d.message));
    }
  }
  if (!parsed && !forwarded) sink.add(DiagCode::syntax_error, "", "expected a JSON object header, found invalid JSON");
  if (!parsed) return false;
  if (!doc->is_object()) {  // the reader promises an object; keep S1 even if it did not
    sink.add(DiagCode::safetensors_header_invalid, "",
             "expected the header to be a JSON object, found " + describe(*doc));
    return false;
  }
  return true;
}

/// S4 / S5 over every tensor entry of `doc` (in key order), the kept ones into out->kept. False
/// where one is invalid, or where the diagnostics list filled up (then nothing is kept).
bool check_entries(const json& doc, std::uint64_t data_bytes, const std::function<bool(std::string_view)>& keep,
                   Sink& sink, StHeader* out) {
  bool ok = true;
  std::vector<Span> spans;
  spans.reserve(static_cast<std::size_t>(out->tensor_count));
  bool all_offsets = true;
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    TensorCheck tc;
    check_tensor(name, it.value(), data_bytes, sink, &tc);
    if (!tc.valid) ok = false;
    if (tc.have_offsets)
      spans.push_back({tc.tensor.begin, tc.tensor.end, &name});
    else
      all_offsets = false;
    if (tc.valid && keep && keep(name)) {
      tc.tensor.name = name;
      out->kept.push_back(std::move(tc.tensor));
    }
    if (sink.full()) {  // the list is capped: stop, keeping nothing of a rejected header
      out->kept.clear();
      return false;
    }
  }
  // Coverage only when every entry gave offsets: otherwise every missing entry would also show up
  // as a gap, burying the real problem.
  if (all_offsets && !check_coverage(spans, data_bytes, sink)) ok = false;
  return ok;
}

}  // namespace

bool parse_safetensors_header(std::string_view text, std::uint64_t data_bytes, const LoadLimits& limits,
                              const std::function<bool(std::string_view)>& keep, Sink& sink, StHeader* out) {
  out->tensor_count = 0;
  out->kept.clear();
  out->data_bytes = data_bytes;
  const std::uint64_t max_header = std::min(limits.max_header_bytes, kSpecMaxHeaderBytes);
  const std::int64_t max_tensors = std::max<std::int64_t>(0, std::min(limits.max_tensors, kSpecMaxTensors));
  json doc;
  if (!parse_header_json(text, max_header, limits, sink, &doc)) return false;

  // S6, before looking at any tensor.
  const auto meta = doc.find("__metadata__");
  const std::int64_t count = static_cast<std::int64_t>(doc.size()) - (meta != doc.end() ? 1 : 0);
  out->tensor_count = count;
  if (count > max_tensors) {
    sink.add(
        DiagCode::too_many_tensors, "",
        "expected at most " + std::to_string(max_tensors) + " tensors in one file, found " + std::to_string(count));
    return false;
  }
  bool ok = true;
  if (meta != doc.end() && !check_metadata(*meta, sink)) ok = false;
  if (!check_entries(doc, data_bytes, keep, sink, out)) ok = false;
  if (!ok) out->kept.clear();
  return ok;
}

// ---------------------------------------------------------------------------------------------

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

bool SafetensorsFile::open(const std::string& path, const std::string& file_label, const LoadLimits& limits,
                           const std::function<bool(std::string_view)>& keep, Sink& sink) {
  try {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
    header_ = StHeader();
    label_ = file_label;
    sink.set_file(file_label);

    std::uint64_t size = 0;
    if (!open_regular_file(path, sink, &fd_, &size)) return false;

    // S1 on the 8-byte prefix, before the header is read.
    char prefix[8] = {};
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(8, size));
    if (!read_exact(fd_, prefix, want, 0, "the header length", sink)) return false;
    std::uint64_t n = 0;
    if (!check_safetensors_prefix(std::string_view(prefix, want), size, limits, sink, &n)) return false;

    std::string text(static_cast<std::size_t>(n), '\0');
    if (!read_exact(fd_, text.data(), text.size(), 8, "the header", sink)) return false;
    header_.header_bytes = n;
    header_.data_start = 8 + n;
    header_.data_bytes = size - 8 - n;
    return parse_safetensors_header(text, header_.data_bytes, limits, keep, sink, &header_);
  } catch (const std::bad_alloc&) {
    header_.kept.clear();
    try {
      sink.add(DiagCode::out_of_memory, "", "expected enough host memory to read the header, found none");
    } catch (...) {
    }
    return false;
  } catch (...) {
    header_.kept.clear();
    try {
      sink.add(DiagCode::internal_error, "", "expected to read the header, found an unexpected exception");
    } catch (...) {
    }
    return false;
  }
}

bool SafetensorsFile::read_tensor(const StTensor& t, std::vector<std::uint8_t>* bytes, Sink& sink,
                                  std::uint64_t max_bytes) const {
  try {
    const std::string saved = sink.file();
    sink.set_file(label_);
    struct Restore {
      Sink& s;
      const std::string& f;
      ~Restore() { s.set_file(f); }
    } restore{sink, saved};
    bytes->clear();
    if (fd_ < 0 || t.end < t.begin || t.end > header_.data_bytes) {
      sink.add(DiagCode::internal_error, pointer_to(t.name),
               "expected a tensor of this open file, found " + std::string(fd_ < 0 ? "no open file" : "other offsets"));
      return false;
    }
    const std::uint64_t size = t.end - t.begin;
    const std::uint64_t limit = std::min(max_bytes, kMaxScaleTensorBytes);
    if (size > limit) {
      sink.add(DiagCode::scale_shape_invalid, pointer_to(t.name) + "/shape",
               "expected a scale tensor of at most " + u64s(limit) +
                   " bytes (one value per tensor or per KV head), found " + u64s(size) + " bytes (shape " +
                   shape_text(t.shape) + " of " + st_dtype_name(t.dtype) + "); not read");
      return false;
    }
    bytes->resize(static_cast<std::size_t>(size));
    if (!read_exact(fd_, bytes->data(), bytes->size(), header_.data_start + t.begin, "the tensor's data", sink)) {
      bytes->clear();
      return false;
    }
    return true;
  } catch (const std::bad_alloc&) {
    bytes->clear();
    try {
      sink.add(DiagCode::out_of_memory, "", "expected enough host memory to read a tensor, found none");
    } catch (...) {
    }
    return false;
  }
}

}  // namespace loader
}  // namespace kvscale
