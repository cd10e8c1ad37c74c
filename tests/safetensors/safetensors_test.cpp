// The safetensors reader (src/loader/safetensors.cpp), rule by rule (docs/checkpoint-scales.md,
// S1..S6): each rejection is pinned by code, pointer and message; valid files (zero-size tensors,
// padding, metadata), read_tensor and the I/O cases.
#include "safetensors.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/temp_dir.hpp"
#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace {

using kvscale::DiagCode;
using kvscale::Diagnostic;
using kvscale::LoadLimits;
using kvscale::loader::SafetensorsFile;
using kvscale::loader::Sink;
using kvscale::loader::StDtype;
using kvscale::loader::StHeader;

using kvscale::test::TempDir;

/// u64 LE N | header | data.
std::string container(const std::string& header, const std::string& data = "") {
  std::string out(8, '\0');
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  return out + header + data;
}

std::string with_length(std::uint64_t n, const std::string& rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  return out + rest;
}

std::string f32(std::initializer_list<float> v) {
  std::string s;
  for (float x : v) {
    char b[4];
    std::memcpy(b, &x, 4);  // little-endian hosts only (as the loader assumes)
    s.append(b, 4);
  }
  return s;
}

struct Parsed {
  bool ok = false;
  std::vector<Diagnostic> diags;
  StHeader header;
};

const auto kKeepAll = [](std::string_view) { return true; };

Parsed parse(const std::string& json, std::uint64_t data_bytes, const LoadLimits& limits = {}) {
  Parsed p;
  Sink sink(limits.max_diagnostics);
  sink.set_file("model.safetensors");
  p.ok = kvscale::loader::parse_safetensors_header(json, data_bytes, limits, kKeepAll, sink, &p.header);
  p.diags = sink.diags();
  return p;
}

struct Opened {
  bool ok = false;
  std::vector<Diagnostic> diags;
  StHeader header;
};

Opened open_path(const std::string& path, const LoadLimits& limits = {}) {
  Opened o;
  SafetensorsFile f;
  Sink sink(limits.max_diagnostics);
  o.ok = f.open(path, "shard.safetensors", limits, kKeepAll, sink);
  o.diags = sink.diags();
  o.header = f.header();
  return o;
}

Opened open_bytes(const std::string& bytes, const LoadLimits& limits = {}) {
  TempDir t;
  return open_path(t.file("x.safetensors", bytes), limits);
}

std::string dump(const std::vector<Diagnostic>& ds) {
  std::string s;
  for (const Diagnostic& d : ds) s += "\n  " + kvscale::format_diagnostic(d);
  return s.empty() ? std::string("\n  (none)") : s;
}

/// The first diagnostic is (code, pointer, message); every one carries the file label.
template <typename R>
void expect_first(const R& r, DiagCode code, const std::string& pointer, const std::string& message,
                  const std::string& file = "") {
  SCOPED_TRACE(dump(r.diags));
  EXPECT_FALSE(r.ok);
  ASSERT_FALSE(r.diags.empty());
  EXPECT_STREQ(kvscale::diag_code_name(r.diags[0].code), kvscale::diag_code_name(code));
  EXPECT_EQ(r.diags[0].pointer, pointer);
  if (!message.empty()) {
    EXPECT_EQ(r.diags[0].message, message);
  }
  for (const Diagnostic& d : r.diags) {
    EXPECT_EQ(d.message.find('\n'), std::string::npos);
    if (!file.empty()) {
      EXPECT_EQ(d.file, file);
    }
  }
}

const std::string kTensor = R"("dtype":"F32","shape":[1],"data_offsets":[0,4])";

// ---------------------------------------------------------------------------------------------
// S1

TEST(SafetensorsS1, FileShorterThanEightBytes) {
  expect_first(open_bytes(std::string("\x02\0\0\0\0", 5)), DiagCode::safetensors_header_invalid, "",
               "expected at least 8 bytes (the header length), found a file of 5 bytes", "shard.safetensors");
  expect_first(open_bytes(""), DiagCode::safetensors_header_invalid, "",
               "expected at least 8 bytes (the header length), found a file of 0 bytes", "shard.safetensors");
}

TEST(SafetensorsS1, HeaderLengthOverTheLimitIsRefusedBeforeReading) {
  // A sparse file big enough for the header: only the limit can refuse it, and the 100 MB are
  // never read (the test would be slow, and use 100 MB, otherwise).
  TempDir t;
  const std::string p = t.file("big.safetensors", with_length(100000001, "{}"));
  ASSERT_EQ(::truncate(p.c_str(), 8 + 100000001 + 16), 0);
  expect_first(open_path(p), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 100000000 bytes, found 100000001", "shard.safetensors");
  // A caller's lower limit applies the same way; a higher one is clamped to the spec's.
  LoadLimits low;
  low.max_header_bytes = 1;
  expect_first(open_bytes(container("{}"), low), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 1 bytes, found 2");
  LoadLimits high;
  high.max_header_bytes = std::uint64_t{1} << 40;
  expect_first(open_path(p, high), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 100000000 bytes, found 100000001");
}

TEST(SafetensorsS1, HeaderPastTheEndOfTheFile) {
  expect_first(open_bytes(with_length(3, "{}")), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 2 bytes (the file size 10 - 8), found 3 (hint: the file may be "
               "truncated)");
  expect_first(open_bytes(with_length(~std::uint64_t{0}, "{}")), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 100000000 bytes, found 18446744073709551615");
}

TEST(SafetensorsS1, JsonFileGetsAHint) {
  expect_first(open_bytes(R"({"model_type": "llama"})"), DiagCode::safetensors_header_invalid, "",
               "expected a header length of at most 100000000 bytes, found 6875982213128462971 (hint: the file "
               "starts with '{': is it JSON rather than safetensors?)");
}

TEST(SafetensorsS1, TopLevelMustBeAnObject) {
  for (const char* h : {"[]", "\"x\"", "1", "null", "true"}) {
    SCOPED_TRACE(h);
    const Parsed p = parse(h, 0);
    expect_first(p, DiagCode::safetensors_header_invalid, "", "", "model.safetensors");
    EXPECT_NE(p.diags[0].message.find("(a safetensors header is a JSON object)"), std::string::npos);
  }
}

TEST(SafetensorsS1, TrailingAndLeadingWhitespaceAllowed) {
  EXPECT_TRUE(parse("{}      ", 0).ok);
  EXPECT_TRUE(parse("  {}\t\r\n ", 0).ok);
  EXPECT_TRUE(open_bytes(container("{}      ")).ok);
}

// ---------------------------------------------------------------------------------------------
// S2: the shared JSON reader's rules apply to the header.

TEST(SafetensorsS2, DuplicateTensor) {
  const Parsed p = parse("{\"a\":{" + kTensor + "},\"a\":{" + kTensor + "}}", 4);
  expect_first(p, DiagCode::duplicate_key, "/a", "");
}

TEST(SafetensorsS2, DuplicateFieldInAnEntry) {
  const Parsed p = parse(R"({"a":{"dtype":"F32","dtype":"F16","shape":[1],"data_offsets":[0,4]}})", 4);
  expect_first(p, DiagCode::duplicate_key, "/a/dtype", "");
}

TEST(SafetensorsS2, JsonCodes) {
  expect_first(parse(R"({"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}})", 4), DiagCode::nan_or_infinity,
               "/a/shape/0", "");
  EXPECT_EQ(parse("\xEF\xBB\xBF{}", 0).diags.at(0).code, DiagCode::utf8_bom);
  EXPECT_EQ(parse("{\"\xFF\":{}}", 0).diags.at(0).code, DiagCode::invalid_utf8);
  EXPECT_EQ(parse("{} x", 0).diags.at(0).code, DiagCode::trailing_data);
  EXPECT_EQ(parse("", 0).diags.at(0).code, DiagCode::syntax_error);
  EXPECT_EQ(parse("{\"a\":", 0).diags.at(0).code, DiagCode::syntax_error);
  std::string deep = "{\"__metadata__\":" + std::string(64, '[') + std::string(64, ']') + "}";
  EXPECT_EQ(parse(deep, 0).diags.at(0).code, DiagCode::nesting_too_deep);
}

// ---------------------------------------------------------------------------------------------
// S3

TEST(SafetensorsS3, MetadataMustBeAnObject) {
  expect_first(parse(R"({"__metadata__":null})", 0), DiagCode::safetensors_metadata_invalid, "/__metadata__",
               "expected __metadata__ to be an object of string -> string, found null");
  expect_first(parse(R"({"__metadata__":["a"]})", 0), DiagCode::safetensors_metadata_invalid, "/__metadata__",
               "expected __metadata__ to be an object of string -> string, found an array of 1 elements");
}

TEST(SafetensorsS3, MetadataValuesAreStrings) {
  const Parsed p = parse(R"({"__metadata__":{"format":"pt","epoch":3,"a/b":{}}})", 0);
  expect_first(p, DiagCode::safetensors_metadata_invalid, "/__metadata__/a~1b",
               "expected a string value in __metadata__, found an object (hint: writers store every metadata value "
               "as a string, e.g. \"1\")");
  ASSERT_EQ(p.diags.size(), 2u);
  EXPECT_EQ(p.diags[1].pointer, "/__metadata__/epoch");
  EXPECT_EQ(p.diags[1].message,
            "expected a string value in __metadata__, found the number 3 (hint: writers store every metadata value as "
            "a string, e.g. \"1\")");
}

// ---------------------------------------------------------------------------------------------
// S4

TEST(SafetensorsS4, EntryIsAnObject) {
  expect_first(parse(R"({"t":[1]})", 0), DiagCode::safetensors_tensor_invalid, "/t",
               "expected a tensor entry {\"dtype\", \"shape\", \"data_offsets\"}, found an array of 1 elements");
}

TEST(SafetensorsS4, MissingKeysPointAtTheEntry) {
  expect_first(parse(R"({"t":{"shape":[1],"data_offsets":[0,4]}})", 4), DiagCode::safetensors_tensor_invalid, "/t",
               "expected the key \"dtype\" in a tensor entry, found none");
  expect_first(parse(R"({"t":{"dtype":"F32","data_offsets":[0,4]}})", 4), DiagCode::safetensors_tensor_invalid, "/t",
               "expected the key \"shape\" in a tensor entry, found none");
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1]}})", 4), DiagCode::safetensors_tensor_invalid, "/t",
               "expected the key \"data_offsets\" in a tensor entry, found none");
}

TEST(SafetensorsS4, UnknownKeyIsRejected) {
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"align":8}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/align",
               "expected only the keys dtype, shape and data_offsets in a tensor entry, found the key \"align\" "
               "(kvscale refuses entries it does not fully understand)");
}

TEST(SafetensorsS4, Dtype) {
  expect_first(parse(R"({"t":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/dtype",
               "expected a safetensors dtype, found \"f32\" (hint: dtype names are upper case: \"F32\")");
  expect_first(parse(R"({"t":{"dtype":"float32","shape":[1],"data_offsets":[0,4]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/dtype",
               "expected a safetensors dtype, found \"float32\" (one of BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, "
               "F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64)");
  expect_first(parse(R"({"t":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})", 4), DiagCode::safetensors_tensor_invalid,
               "/t/dtype", "expected a dtype string such as \"F32\", found the number 32");
}

TEST(SafetensorsS4, Shape) {
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1,-2],"data_offsets":[0,4]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/shape/1",
               "expected a non-negative integer dimension, found the number -2");
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", 8),
               DiagCode::safetensors_tensor_invalid, "/t/shape/0",
               "expected a non-negative integer dimension, found the number 2.0");
  expect_first(parse(R"({"t":{"dtype":"F32","shape":"[1]","data_offsets":[0,4]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/shape",
               "expected the shape as an array of non-negative integers, found the string \"[1]\"");
}

TEST(SafetensorsS4, ShapeProductAtMostTwoToThe62) {
  expect_first(parse(R"({"t":{"dtype":"U8","shape":[2147483648,2147483648,2],"data_offsets":[0,0]}})", 0),
               DiagCode::safetensors_tensor_invalid, "/t/shape",
               "expected a shape whose product is at most 2^62, found [2147483648, 2147483648, 2]");
  // Exactly 2^62 is allowed by S4 (and then S5 compares it with the offsets).
  const Parsed p = parse(R"({"t":{"dtype":"U8","shape":[2147483648,2147483648],"data_offsets":[0,0]}})", 0);
  EXPECT_EQ(p.diags.at(0).code, DiagCode::safetensors_offsets_invalid) << dump(p.diags);
  // A zero after an overflow does not rescue the shape (the reference also multiplies left to right).
  expect_first(parse(R"({"t":{"dtype":"U8","shape":[1099511627776,1099511627776,0],"data_offsets":[0,0]}})", 0),
               DiagCode::safetensors_tensor_invalid, "/t/shape",
               "expected a shape whose product is at most 2^62, found [1099511627776, 1099511627776, 0]");
  EXPECT_TRUE(parse(R"({"t":{"dtype":"U8","shape":[0,4611686018427387904],"data_offsets":[0,0]}})", 0).ok);
}

TEST(SafetensorsS4, DataOffsets) {
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/data_offsets",
               "expected data_offsets as [begin, end], found an array of 3 elements");
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[-1,4]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/data_offsets/0",
               "expected a non-negative integer offset, found the number -1");
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", 4),
               DiagCode::safetensors_tensor_invalid, "/t/data_offsets", "expected begin <= end, found [4, 0]");
}

TEST(SafetensorsS4, SubByteDtypesNeedWholeBytes) {
  expect_first(parse(R"({"t":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}})", 2),
               DiagCode::safetensors_tensor_invalid, "/t/shape",
               "expected a whole number of bytes, found 3 elements of F4 (4 bits each)");
  EXPECT_TRUE(parse(R"({"t":{"dtype":"F4","shape":[4],"data_offsets":[0,2]}})", 2).ok);
  EXPECT_TRUE(parse(R"({"t":{"dtype":"F6_E3M2","shape":[4],"data_offsets":[0,3]}})", 3).ok);
}

TEST(SafetensorsS4, PointerEscapes) {
  expect_first(parse(R"({"a/b~c":{"dtype":"X","shape":[],"data_offsets":[0,0]}})", 0),
               DiagCode::safetensors_tensor_invalid, "/a~1b~0c/dtype", "");
  expect_first(parse(R"({"":{"dtype":"X","shape":[],"data_offsets":[0,0]}})", 0), DiagCode::safetensors_tensor_invalid,
               "//dtype", "");
}

// ---------------------------------------------------------------------------------------------
// S5

TEST(SafetensorsS5, SizeMustMatchShapeAndDtype) {
  expect_first(parse(R"({"t":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})", 20),
               DiagCode::safetensors_offsets_invalid, "/t/data_offsets",
               "expected end - begin = 24 bytes (shape [2, 3] of F32), found 20 ([0, 20])");
  expect_first(parse(R"({"t":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}})", 8),
               DiagCode::safetensors_offsets_invalid, "/t/data_offsets",
               "expected end - begin = more than 2^64 bytes (shape [4611686018427387904] of F64), found 8 ([0, 8])");
}

TEST(SafetensorsS5, EndWithinTheDataBuffer) {
  expect_first(open_bytes(container(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(4, 'x'))),
               DiagCode::safetensors_offsets_invalid, "/t/data_offsets",
               "expected end <= 4 (the data buffer's size: file size - 8 - header length), found 8 (hint: the file "
               "may be truncated)",
               "shard.safetensors");
}

TEST(SafetensorsS5, Gap) {
  expect_first(parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                         "b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                     12),
               DiagCode::safetensors_offsets_invalid, "/b/data_offsets",
               "expected begin = 4 (the end of \"a\"), found 8: a gap of 4 bytes no tensor describes");
  expect_first(parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
               DiagCode::safetensors_offsets_invalid, "/a/data_offsets",
               "expected begin = 0 (the start of the data buffer), found 4: a gap of 4 bytes no tensor describes");
}

TEST(SafetensorsS5, Overlap) {
  expect_first(parse(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},
                         "b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                     8),
               DiagCode::safetensors_offsets_invalid, "/b/data_offsets",
               "expected begin = 8 (the end of \"a\"), found 4: 4 bytes overlap \"a\"");
}

TEST(SafetensorsS5, NothingAfterTheLastTensor) {
  expect_first(parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 6),
               DiagCode::safetensors_offsets_invalid, "",
               "expected the tensors to cover the data buffer's 6 bytes, found 2 bytes after the last tensor, \"a\", "
               "which ends at 4");
  expect_first(parse("{}", 3), DiagCode::safetensors_offsets_invalid, "",
               "expected the tensors to cover the data buffer's 3 bytes, found 3 bytes after the header, and no "
               "tensor");
}

TEST(SafetensorsS5, NoCoverageNoiseAfterAnS4Error) {
  // b has no offsets: a's offsets alone leave a "gap", which must not be reported on top.
  const Parsed p =
      parse(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"b":{"dtype":"F32","shape":[1]}})", 8);
  ASSERT_EQ(p.diags.size(), 1u) << dump(p.diags);
  EXPECT_EQ(p.diags[0].pointer, "/b");
}

// ---------------------------------------------------------------------------------------------
// S6

TEST(SafetensorsS6, TooManyTensors) {
  LoadLimits lim;
  lim.max_tensors = 2;
  const std::string h = R"({"__metadata__":{},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},
                            "b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},
                            "c":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})";
  const Parsed p = parse(h, 3, lim);
  expect_first(p, DiagCode::too_many_tensors, "", "expected at most 2 tensors in one file, found 3");
  EXPECT_EQ(p.diags.size(), 1u);
  lim.max_tensors = 3;
  EXPECT_TRUE(parse(h, 3, lim).ok);
  lim.max_tensors = std::int64_t{1} << 40;  // clamped to the spec's 1,000,000
  EXPECT_TRUE(parse(h, 3, lim).ok);
}

// ---------------------------------------------------------------------------------------------
// Valid files

TEST(SafetensorsValid, ScalesFile) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"model.layers.0.self_attn.k_scale":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("model.layers.0.self_attn.v_scale":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]},)"
      R"("model.layers.0.mlp.weight":{"dtype":"F8_E4M3","shape":[2,2],"data_offsets":[6,10]}})";
  std::string header = h + std::string((8 - h.size() % 8) % 8, ' ');
  TempDir t;
  const std::string path = t.file("m.safetensors", container(header, f32({0.5f}) + "\x80\x3f" + "wwww"));
  SafetensorsFile f;
  Sink sink(100);
  ASSERT_TRUE(f.open(
      path, "m.safetensors", {}, [](std::string_view n) { return n.find("_scale") != n.npos; }, sink))
      << dump(sink.diags());
  const StHeader& hd = f.header();
  EXPECT_EQ(hd.header_bytes, header.size());
  EXPECT_EQ(hd.data_start, 8 + header.size());
  EXPECT_EQ(hd.data_bytes, 10u);
  EXPECT_EQ(hd.tensor_count, 3);
  ASSERT_EQ(hd.kept.size(), 2u);  // the weight is not kept
  EXPECT_EQ(hd.kept[0].name, "model.layers.0.self_attn.k_scale");
  EXPECT_EQ(hd.kept[0].dtype, StDtype::F32);
  EXPECT_TRUE(hd.kept[0].shape.empty());
  EXPECT_EQ(hd.kept[1].dtype, StDtype::BF16);
  EXPECT_EQ(hd.kept[1].shape, std::vector<std::uint64_t>{1});
  EXPECT_EQ(hd.kept[1].begin, 4u);
  EXPECT_EQ(hd.kept[1].end, 6u);

  std::vector<std::uint8_t> bytes;
  ASSERT_TRUE(f.read_tensor(hd.kept[0], &bytes, sink));
  float v = 0;
  ASSERT_EQ(bytes.size(), 4u);
  std::memcpy(&v, bytes.data(), 4);
  EXPECT_EQ(v, 0.5f);
  ASSERT_TRUE(f.read_tensor(hd.kept[1], &bytes, sink));
  EXPECT_EQ(bytes, (std::vector<std::uint8_t>{0x80, 0x3f}));
  EXPECT_TRUE(sink.diags().empty());
}

TEST(SafetensorsValid, ZeroSizeTensorsAnywhere) {
  const Parsed p = parse(R"({"e0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},
                             "a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},
                             "e1":{"dtype":"F16","shape":[3,0],"data_offsets":[4,4]},
                             "b":{"dtype":"U8","shape":[2],"data_offsets":[4,6]},
                             "e2":{"dtype":"F64","shape":[0,7],"data_offsets":[6,6]}})",
                         6);
  EXPECT_TRUE(p.ok) << dump(p.diags);
  EXPECT_EQ(p.header.tensor_count, 5);
  EXPECT_TRUE(parse(R"({"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})", 0).ok);
}

TEST(SafetensorsValid, EmptyHeaderAndEmptyMetadata) {
  EXPECT_TRUE(parse("{}", 0).ok);
  EXPECT_TRUE(parse(R"({"__metadata__":{}})", 0).ok);
  const Opened o = open_bytes(container("{}      "));
  EXPECT_TRUE(o.ok) << dump(o.diags);
  EXPECT_EQ(o.header.tensor_count, 0);
  EXPECT_EQ(o.header.data_bytes, 0u);
}

TEST(SafetensorsValid, KeptIsEmptyWhenRejected) {
  const Parsed p = parse(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"X","shape":[],"data_offsets":[4,4]}})", 4);
  EXPECT_FALSE(p.ok);
  EXPECT_TRUE(p.header.kept.empty());
}

TEST(SafetensorsValid, DtypeTable) {
  using kvscale::loader::st_dtype_bits;
  using kvscale::loader::st_dtype_from_name;
  using kvscale::loader::st_dtype_name;
  using kvscale::loader::st_dtype_size;
  int n = 0;
  for (int i = 0; i <= static_cast<int>(StDtype::F8_E5M2FNUZ); ++i, ++n) {
    const StDtype d = static_cast<StDtype>(i);
    StDtype back{};
    ASSERT_TRUE(st_dtype_from_name(st_dtype_name(d), &back)) << i;
    EXPECT_EQ(back, d);
    EXPECT_GT(st_dtype_bits(d), 0u);
  }
  EXPECT_EQ(n, 22);
  EXPECT_EQ(st_dtype_size(StDtype::F32), 4u);
  EXPECT_EQ(st_dtype_size(StDtype::BF16), 2u);
  EXPECT_EQ(st_dtype_size(StDtype::C64), 8u);
  EXPECT_EQ(st_dtype_size(StDtype::F4), 0u);
  EXPECT_EQ(st_dtype_bits(StDtype::F6_E2M3), 6u);
  StDtype d{};
  EXPECT_FALSE(st_dtype_from_name("f32", &d));
  EXPECT_FALSE(st_dtype_from_name("", &d));
}

TEST(SafetensorsValid, DiagnosticsAreCapped) {
  std::string h = "{";
  for (int i = 0; i < 300; ++i) h += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\":1";
  h += "}";
  LoadLimits lim;
  const Parsed p = parse(h, 0, lim);
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.diags.size(), lim.max_diagnostics + 1);
  EXPECT_EQ(p.diags.back().code, DiagCode::too_many_diagnostics);
}

// Found by fuzz_safetensors: the cap marker is about the whole list, so it carries no file label
// while every diagnostic before it names the file (scales.hpp, Diagnostic::file).
TEST(SafetensorsValid, CapMarkerHasNoFileLabel) {
  LoadLimits lim;
  lim.max_diagnostics = 3;
  Sink sink(lim.max_diagnostics);
  sink.set_file("model.safetensors");
  StHeader h;
  const std::string text = R"({"__metadita__":{},"&__metadata__":{},"a":1,"b":2})";
  EXPECT_FALSE(parse_safetensors_header(
      text, 0, lim, [](std::string_view) { return true; }, sink, &h));
  ASSERT_EQ(sink.diags().size(), 4u);
  for (std::size_t i = 0; i + 1 < sink.diags().size(); ++i) EXPECT_EQ(sink.diags()[i].file, "model.safetensors");
  EXPECT_EQ(sink.diags().back().code, DiagCode::too_many_diagnostics);
  EXPECT_EQ(sink.diags().back().file, "");
}

// Found by fuzz_safetensors: a header rejected when the diagnostic list fills up keeps no tensor,
// even one that was valid before the cap was reached.
TEST(SafetensorsValid, CappedRejectionKeepsNoTensor) {
  LoadLimits lim;
  lim.max_diagnostics = 3;
  const Parsed p =
      parse(R"({"_":{"dtype":"F16","shape":[1],"data_offsets":[8,10]},"_ape":[1],"data_of":{}})", 20065, lim);
  EXPECT_FALSE(p.ok);
  ASSERT_FALSE(p.diags.empty());
  EXPECT_EQ(p.diags.back().code, DiagCode::too_many_diagnostics);
  EXPECT_TRUE(p.header.kept.empty());
}

// ---------------------------------------------------------------------------------------------
// read_tensor

TEST(SafetensorsRead, RefusesLargeTensorsUnread) {
  TempDir t;
  const std::string path = t.file(
      "m.safetensors", container(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", std::string(16, 'x')));
  SafetensorsFile f;
  Sink sink(100);
  ASSERT_TRUE(f.open(path, "m.safetensors", {}, kKeepAll, sink));
  sink.set_file("other.json");
  std::vector<std::uint8_t> bytes;
  EXPECT_FALSE(f.read_tensor(f.header().kept.at(0), &bytes, sink, 8));
  ASSERT_EQ(sink.diags().size(), 1u);
  const Diagnostic& d = sink.diags()[0];
  EXPECT_EQ(d.code, DiagCode::scale_shape_invalid);
  EXPECT_EQ(d.pointer, "/w/shape");
  EXPECT_EQ(d.file, "m.safetensors");  // the tensor's file, whatever the sink's label was
  EXPECT_EQ(d.message,
            "expected a scale tensor of at most 8 bytes (one value per tensor or per KV head), found 16 bytes "
            "(shape [4] of F32); not read");
  EXPECT_EQ(sink.file(), "other.json");  // restored
  EXPECT_TRUE(bytes.empty());
  // The default limit is 1 MiB, and a larger max_bytes does not raise it.
  EXPECT_TRUE(f.read_tensor(f.header().kept.at(0), &bytes, sink, std::uint64_t{1} << 40));
  EXPECT_EQ(bytes.size(), 16u);
}

TEST(SafetensorsRead, FileTruncatedAfterOpen) {
  TempDir t;
  const std::string path = t.file(
      "m.safetensors", container(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", std::string(8, 'x')));
  SafetensorsFile f;
  Sink sink(100);
  ASSERT_TRUE(f.open(path, "m.safetensors", {}, kKeepAll, sink));
  const std::uint64_t cut = f.header().data_start + 5;
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(cut)), 0);
  std::vector<std::uint8_t> bytes;
  EXPECT_FALSE(f.read_tensor(f.header().kept.at(0), &bytes, sink));
  ASSERT_EQ(sink.diags().size(), 1u);
  EXPECT_EQ(sink.diags()[0].code, DiagCode::read_error);
  EXPECT_EQ(sink.diags()[0].message, "expected 8 bytes of the tensor's data at offset " +
                                         std::to_string(f.header().data_start) +
                                         ", found the end of the file after 5 (did the file change while reading?)");
  EXPECT_TRUE(bytes.empty());
}

TEST(SafetensorsRead, NotOpen) {
  SafetensorsFile f;
  Sink sink(100);
  std::vector<std::uint8_t> bytes;
  kvscale::loader::StTensor t;
  t.name = "x";
  EXPECT_FALSE(f.read_tensor(t, &bytes, sink));
  ASSERT_EQ(sink.diags().size(), 1u);
  EXPECT_EQ(sink.diags()[0].code, DiagCode::internal_error);
}

// ---------------------------------------------------------------------------------------------
// I/O

TEST(SafetensorsIo, NotFound) {
  TempDir t;
  expect_first(open_path(t.path() + "/missing.safetensors"), DiagCode::file_not_found, "",
               "expected a file, found nothing at this path", "shard.safetensors");
  expect_first(open_path(t.path() + "/missing/x.safetensors"), DiagCode::file_not_found, "", "");
}

TEST(SafetensorsIo, DirectoryAndFifo) {
  TempDir t;
  expect_first(open_path(t.path()), DiagCode::not_a_regular_file, "", "expected a regular file, found a directory",
               "shard.safetensors");
  const std::string fifo = t.path() + "/fifo.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Opened without blocking, then refused by fstat.
  expect_first(open_path(fifo), DiagCode::not_a_regular_file, "", "expected a regular file, found a FIFO");
}

TEST(SafetensorsIo, SymlinksAreFollowed) {
  TempDir t;
  const std::string target = t.file("blob", container(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z"));
  const std::string link = t.path() + "/model.safetensors";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  const Opened o = open_path(link);
  EXPECT_TRUE(o.ok) << dump(o.diags);
  EXPECT_EQ(o.header.tensor_count, 1);

  const std::string to_dir = t.path() + "/dir.safetensors";
  ASSERT_EQ(::symlink(t.path().c_str(), to_dir.c_str()), 0);
  expect_first(open_path(to_dir), DiagCode::not_a_regular_file, "", "expected a regular file, found a directory");
  const std::string dangling = t.path() + "/dangling.safetensors";
  ASSERT_EQ(::symlink((t.path() + "/nowhere").c_str(), dangling.c_str()), 0);
  expect_first(open_path(dangling), DiagCode::file_not_found, "", "expected a file, found nothing at this path");
}

TEST(SafetensorsIo, ReopenResetsTheHeader) {
  TempDir t;
  const std::string good = t.file("a", container(R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})", "z"));
  SafetensorsFile f;
  Sink sink(100);
  ASSERT_TRUE(f.open(good, "a", {}, kKeepAll, sink));
  EXPECT_EQ(f.header().kept.size(), 1u);
  EXPECT_FALSE(f.open(t.path() + "/nope", "b", {}, kKeepAll, sink));
  EXPECT_TRUE(f.header().kept.empty());
  EXPECT_EQ(sink.diags().at(0).file, "b");
}

}  // namespace
