// The shared JSON reader (src/loader/json_reader.hpp): the DOM it builds and the H2/H4/H6/H7 and
// syntax diagnostics every JSON input gets, with codes, pointers and messages pinned.
#include "json_reader.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/temp_dir.hpp"
#include "kvscale/scales.hpp"
#include "sink.hpp"

namespace {

using kvscale::DiagCode;
using kvscale::loader::JsonLimits;
using kvscale::loader::Sink;
using nlohmann::json;

struct Parsed {
  bool ok;
  json doc;
  std::vector<kvscale::Diagnostic> diags;
};

Parsed parse(const std::string& text, JsonLimits limits = {}) {
  Sink sink(100);
  Parsed p;
  p.ok = kvscale::loader::parse_json_document(text, limits, sink, &p.doc);
  p.diags = sink.diags();
  return p;
}

void expect_one(const Parsed& p, DiagCode code, const std::string& pointer, const std::string& message) {
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.diags.size(), 1u);
  EXPECT_STREQ(kvscale::diag_code_name(p.diags[0].code), kvscale::diag_code_name(code));
  EXPECT_EQ(p.diags[0].pointer, pointer);
  EXPECT_EQ(p.diags[0].message, message);
}

TEST(JsonReader, BuildsTheDocument) {
  const Parsed p = parse(R"({"a": [1, -2, 18446744073709551615, 0.5, "s", true, null, {}], "b": {"c": []}})");
  ASSERT_TRUE(p.ok);
  EXPECT_TRUE(p.diags.empty());
  EXPECT_EQ(p.doc, json::parse(R"({"a": [1, -2, 18446744073709551615, 0.5, "s", true, null, {}], "b": {"c": []}})"));
  EXPECT_TRUE(p.doc["a"][2].is_number_unsigned());
  EXPECT_TRUE(p.doc["a"][1].is_number_integer());
}

TEST(JsonReader, TrailingWhitespaceIsPadding) {
  // Safetensors writers pad the header with spaces to an 8-byte boundary.
  const Parsed p = parse("{\"__metadata__\": {\"format\": \"pt\"}}     \n\t\r");
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.doc["__metadata__"]["format"], "pt");
}

TEST(JsonReader, DuplicateKey) {
  expect_one(parse(R"({"a": {"b": 1, "b": 2}})"), DiagCode::duplicate_key, "/a/b",
             "expected each key once per object, found \"b\" again (hint: JSON parsers keep only the last value; "
             "remove one)");
}

TEST(JsonReader, PointersEscapeAndIndex) {
  expect_one(parse(R"({"a/b~": [0, {"x": 1, "x": 1}]})"), DiagCode::duplicate_key, "/a~1b~0/1/x",
             "expected each key once per object, found \"x\" again (hint: JSON parsers keep only the last value; "
             "remove one)");
}

TEST(JsonReader, NanAndInfinityTokens) {
  const Parsed p = parse(R"({"x": NaN, "y": [Infinity, -Infinity]})");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.diags.size(), 3u);
  const char* pointers[] = {"/x", "/y/0", "/y/1"};
  const char* tokens[] = {"NaN", "Infinity", "-Infinity"};
  const int offsets[] = {6, 17, 27};
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(p.diags[i].code, DiagCode::nan_or_infinity);
    EXPECT_EQ(p.diags[i].pointer, pointers[i]);
    EXPECT_EQ(p.diags[i].message, std::string("expected a JSON number, found the non-standard token ") + tokens[i] +
                                      " at byte " + std::to_string(offsets[i]) +
                                      " (hint: JSON has no NaN or Infinity; write a finite scale > 0)");
  }
}

TEST(JsonReader, NumberBeyondDouble) {
  expect_one(parse(R"({"n": -1e999})"), DiagCode::nan_or_infinity, "/n",
             "expected a finite JSON number, found -1e999 (beyond the double range, which parses as infinity)");
}

TEST(JsonReader, NestingLimit) {
  JsonLimits lim;
  lim.max_depth = 2;
  EXPECT_TRUE(parse(R"({"a": {}})", lim).ok);
  expect_one(parse(R"({"a": {"b": [1]}})", lim), DiagCode::nesting_too_deep, "/a/b",
             "expected JSON nesting of at most 2 levels, found level 3");
}

TEST(JsonReader, SizeLimit) {
  JsonLimits lim;
  lim.max_bytes = 8;
  EXPECT_TRUE(parse("{\"a\": 1}", lim).ok);
  expect_one(parse("{\"a\": 12}", lim), DiagCode::file_too_large, "", "expected at most 8 bytes, found 9 bytes");
}

TEST(JsonReader, EncodingProblems) {
  expect_one(parse("\xEF\xBB\xBF{}"), DiagCode::utf8_bom, "",
             "expected JSON text, found a UTF-8 byte order mark (EF BB BF) at byte 0 (hint: save the file as UTF-8 "
             "without a BOM)");
  expect_one(parse("{\"a\": \"\xC0\xAF\"}"), DiagCode::invalid_utf8, "",
             "expected UTF-8 text, found an invalid byte sequence starting with 0xC0 at byte 7");
  const Parsed surrogate = parse(R"({"a": "\uD800"})");
  ASSERT_EQ(surrogate.diags.size(), 1u);
  EXPECT_EQ(surrogate.diags[0].code, DiagCode::invalid_utf8);
  EXPECT_EQ(surrogate.diags[0].pointer, "/a");
}

TEST(JsonReader, TopLevelMustBeAnObject) {
  expect_one(parse("[1]"), DiagCode::not_an_object, "", "expected a JSON object at the top level, found an array");
  expect_one(parse("\"s\""), DiagCode::not_an_object, "", "expected a JSON object at the top level, found a string");
  expect_one(parse("NaN"), DiagCode::not_an_object, "", "expected a JSON object at the top level, found a number");
}

TEST(JsonReader, TrailingData) {
  expect_one(parse("{} {}"), DiagCode::trailing_data, "",
             "expected the end of the file after the top-level object, found '{' at byte 3 (hint: a file holds "
             "exactly one JSON object)");
  // nlohmann stops at a NUL byte as if the input ended; the reader does not.
  expect_one(parse(std::string("{}\0x", 4)), DiagCode::trailing_data, "",
             "expected the end of the file after the top-level object, found byte 0x00 at byte 2 (hint: a file "
             "holds exactly one JSON object)");
}

TEST(JsonReader, SyntaxErrors) {
  expect_one(parse(""), DiagCode::syntax_error, "", "expected a JSON object, found an empty file");
  const Parsed p = parse(R"({"a": {"b": }})");
  ASSERT_EQ(p.diags.size(), 1u);
  EXPECT_EQ(p.diags[0].code, DiagCode::syntax_error);
  EXPECT_EQ(p.diags[0].pointer, "/a/b");
  EXPECT_EQ(p.diags[0].message.rfind("expected valid JSON, found a syntax error at line 1, column 13 (byte 13): ", 0),
            0u)
      << p.diags[0].message;
}

TEST(JsonReader, EveryValueProblemIsReported) {
  const Parsed p = parse(R"({"a": 1, "a": NaN, "b": {"c": 1, "c": 2}})");
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.diags.size(), 3u);
  EXPECT_EQ(p.diags[0].code, DiagCode::duplicate_key);
  EXPECT_EQ(p.diags[0].pointer, "/a");
  EXPECT_EQ(p.diags[1].code, DiagCode::nan_or_infinity);
  EXPECT_EQ(p.diags[1].pointer, "/a");
  EXPECT_EQ(p.diags[2].code, DiagCode::duplicate_key);
  EXPECT_EQ(p.diags[2].pointer, "/b/c");
}

TEST(JsonReader, DiagnosticsCarryTheFileLabel) {
  Sink sink(100);
  sink.set_file("config.json");
  json doc;
  EXPECT_FALSE(kvscale::loader::parse_json_document("[]", {}, sink, &doc));
  ASSERT_EQ(sink.diags().size(), 1u);
  EXPECT_EQ(sink.diags()[0].file, "config.json");
  EXPECT_EQ(kvscale::diagnostic_location(sink.diags()[0]), "config.json:");
}

using kvscale::test::TempDir;

Parsed read(const std::string& path, JsonLimits limits = {}) {
  Sink sink(100);
  Parsed p;
  p.ok = kvscale::loader::read_json_file(path, limits, sink, &p.doc);
  p.diags = sink.diags();
  return p;
}

TEST(JsonReaderFile, ReadsAndParses) {
  TempDir t;
  const Parsed p = read(t.file("config.json", R"({"num_hidden_layers": 32, "x": NaN})"));
  EXPECT_FALSE(p.ok);
  ASSERT_EQ(p.diags.size(), 1u);
  EXPECT_EQ(p.diags[0].code, DiagCode::nan_or_infinity);
  EXPECT_EQ(p.diags[0].pointer, "/x");
  const Parsed good = read(t.file("good.json", R"({"num_hidden_layers": 32})"));
  ASSERT_TRUE(good.ok);
  EXPECT_EQ(good.doc["num_hidden_layers"], 32);
}

TEST(JsonReaderFile, IoProblems) {
  TempDir t;
  expect_one(read(t.path() + "/absent.json"), DiagCode::file_not_found, "",
             "expected a file, found nothing at this path");
  expect_one(read(t.path()), DiagCode::not_a_regular_file, "", "expected a regular file, found a directory");
  JsonLimits lim;
  lim.max_bytes = 4;
  expect_one(read(t.file("big.json", "{\"a\": 1}"), lim), DiagCode::file_too_large, "",
             "expected at most 4 bytes, found 8 bytes");
}

TEST(JsonReaderFile, FollowsSymlinks) {
  TempDir t;
  const std::string target = t.file("real.json", "{\"a\": 1}");
  const std::string link = t.path() + "/link.json";
  ASSERT_EQ(::symlink(target.c_str(), link.c_str()), 0);
  const Parsed p = read(link);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.doc["a"], 1);
}

}  // namespace
