// Loader rules V1-V6, H1-H7, values, policy and the effective scales. Every rule pins the exact
// code, pointer and message (the message catalogue is part of the contract).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "kvscale/scales.hpp"

namespace {

using kvscale::DiagCode;
using kvscale::LoadContext;
using kvscale::LoadOptions;
using kvscale::LoadResult;

const char kSf[] = "/kv_cache/scaling_factor";

/// A document with `ranks` x `layers` scales; value(r, l) gives the JSON text of each scale.
std::string doc(int ranks, int layers, const std::function<std::string(int, int)>& value = nullptr,
                const std::string& model_type = "\"llama\"", const std::string& dtype = "\"float8_e4m3fn\"") {
  std::ostringstream o;
  o << "{\"model_type\": " << model_type << ", \"kv_cache\": {\"dtype\": " << dtype << ", \"scaling_factor\": {";
  for (int r = 0; r < ranks; ++r) {
    o << (r ? ", " : "") << "\"" << r << "\": {";
    for (int l = 0; l < layers; ++l) o << (l ? ", " : "") << "\"" << l << "\": " << (value ? value(r, l) : "0.015625");
    o << "}";
  }
  o << "}}}";
  return o.str();
}

/// A document whose scaling_factor object is `sf` verbatim.
std::string with_sf(const std::string& sf) {
  return "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": " + sf + "}}";
}

LoadContext ctx(int tp, int rank, int layers, std::optional<std::string> mt = std::nullopt) {
  LoadContext c;
  c.tp_size = tp;
  c.tp_rank = rank;
  c.num_hidden_layers = layers;
  c.model_type = std::move(mt);
  return c;
}

LoadResult load(const std::string& json, std::optional<LoadContext> c = std::nullopt) {
  LoadOptions o;
  o.context = std::move(c);
  return kvscale::load_scales_json(json, o);
}

std::string dump(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += "  " + kvscale::format_diagnostic(d) + "\n";
  return s;
}

/// The result has exactly one diagnostic, equal to (code, pointer, message).
void expect_one(const LoadResult& r, DiagCode code, const std::string& ptr, const std::string& msg) {
  ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
  EXPECT_STREQ(kvscale::diag_code_name(r.diagnostics[0].code), kvscale::diag_code_name(code)) << dump(r);
  EXPECT_EQ(r.diagnostics[0].pointer, ptr);
  EXPECT_EQ(r.diagnostics[0].message, msg);
  EXPECT_TRUE(r.table.empty());
  EXPECT_FALSE(r.used_fallback);
}

std::uint32_t bits(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ------------------------------------------------------------------------------------------------
// Accepting

TEST(LoaderAccept, MinimalWithAndWithoutContext) {
  const std::string j = doc(2, 3);
  for (const auto& r : {load(j), load(j, ctx(2, 1, 3, "llama"))}) {
    ASSERT_TRUE(r.ok()) << dump(r);
    EXPECT_EQ(r.table.tp_size(), 2);
    EXPECT_EQ(r.table.num_layers(), 3);
    EXPECT_EQ(r.table.model_type(), std::optional<std::string>("llama"));
    EXPECT_EQ(r.table.scale(1, 2), 0.015625f);
    EXPECT_TRUE(r.warnings.empty());
  }
}

// vLLM accepts these without a context, but no context can load them (tp_size >= 1, and a model
// has layers): ok() must never hand out an empty table.
TEST(LoaderSelfConsistency, EmptyScalingFactorWithoutContextIsRejected) {
  expect_one(load(with_sf("{}")), DiagCode::rank_missing, kSf, "expected at least rank \"0\", found no ranks");
  const auto r = load(with_sf("{\"0\": {}, \"1\": {}}"));
  ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
  EXPECT_EQ(kvscale::format_diagnostic(r.diagnostics[1]),
            std::string(kSf) + "/1: layer_missing: expected at least layer \"0\", found no layers");
  EXPECT_TRUE(r.table.empty());
}

TEST(LoaderAccept, NullModelTypeWithoutContextModelType) {
  const auto r = load(doc(1, 1, nullptr, "null"), ctx(1, 0, 1));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_FALSE(r.table.model_type().has_value());
}

TEST(LoaderAccept, KeysInAnyOrderAndUnknownKeysWarn) {
  const auto r = load(
      "{\"extra\": [1, {\"x\": null}], \"kv_cache\": {\"scaling_factor\": {\"1\": {\"1\": 2, \"0\": 1}, \"0\": "
      "{\"0\": 3, \"1\": 4}}, \"a/b~c\": 1, \"dtype\": \"float8_e4m3fn\"}, \"model_type\": \"x\"}");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.table.scale(0, 0), 3.0f);
  EXPECT_EQ(r.table.scale(0, 1), 4.0f);
  EXPECT_EQ(r.table.scale(1, 0), 1.0f);
  EXPECT_EQ(r.table.scale(1, 1), 2.0f);
  ASSERT_EQ(r.warnings.size(), 2u);
  EXPECT_EQ(r.warnings[0].message, "unknown key /extra");
  EXPECT_EQ(r.warnings[0].code, kvscale::DiagCode::unknown_key);
  EXPECT_EQ(r.warnings[0].pointer, "/extra");
  EXPECT_EQ(r.warnings[1].message, "unknown key /kv_cache/a~1b~0c");
}

TEST(LoaderAccept, DecimalToDoubleToFloat32LikeVllm) {
  // 1 + 2^-24 + a little: the nearest double is exactly the float32 tie 1 + 2^-24, which then rounds to
  // even (1.0f). A direct decimal -> float32 conversion would give 1 + 2^-23 instead.
  const auto r = load(doc(1, 4, [](int, int l) {
    const char* v[] = {"1.0000000596046448", "0.1", "7", "1e-40"};
    return std::string(v[l]);
  }));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(bits(r.table.scale(0, 0)), 0x3F800000u);
  EXPECT_EQ(bits(r.table.scale(0, 1)), 0x3DCCCCCDu);
  EXPECT_EQ(r.table.scale(0, 2), 7.0f);
  EXPECT_EQ(bits(r.table.scale(0, 3)), 0x000116C2u);  // subnormal float32: finite and > 0, accepted
}

TEST(LoaderAccept, LargestFloat32AndBigIntegers) {
  const auto r = load(doc(1, 2, [](int, int l) { return std::string(l ? "99999999999999999999" : "3.4028235e38"); }));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(bits(r.table.scale(0, 0)), 0x7F7FFFFFu);
  EXPECT_EQ(r.table.scale(0, 1), static_cast<float>(1e20));
}

void check_fixture(const std::string& name, int layers) {
  const std::string path = std::string(KVSCALE_TEST_DATA_DIR) + "/vllm/" + name + "/kv_cache_scales.json";
  const std::string text = read_file(path);
  ASSERT_FALSE(text.empty()) << path;
  const auto r = kvscale::load_scales_file(path, [&] {
    LoadOptions o;
    o.context = ctx(1, 0, layers, "llama");
    return o;
  }());
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_EQ(r.table.tp_size(), 1);
  ASSERT_EQ(r.table.num_layers(), layers);
  // Expected values computed here from the file's own text: decimal -> double -> float32.
  const std::regex entry("\"([0-9]+)\"\\s*:\\s*([-+0-9.eE]+)");
  int count = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), entry); it != std::sregex_iterator(); ++it) {
    const int layer = std::stoi((*it)[1]);
    const float expect = static_cast<float>(std::strtod((*it)[2].str().c_str(), nullptr));
    EXPECT_EQ(bits(r.table.scale(0, layer)), bits(expect)) << "layer " << layer;
    ++count;
  }
  EXPECT_EQ(count, layers);
}

TEST(LoaderFixtures, Llama2_7b) { check_fixture("llama2-7b-fp8-kv", 32); }
TEST(LoaderFixtures, Llama2_70b) { check_fixture("llama2-70b-fp8-kv", 80); }

TEST(LoaderFixtures, KnownBitPatterns) {
  const auto r =
      kvscale::load_scales_file(std::string(KVSCALE_TEST_DATA_DIR) + "/vllm/llama2-7b-fp8-kv/kv_cache_scales.json");
  ASSERT_TRUE(r.ok()) << dump(r);
  // 0.0152239128947258 and 0.0482352152466774 (notes: every value is exactly a float32).
  EXPECT_EQ(r.table.scale(0, 0), 0.0152239128947258f);
  EXPECT_EQ(r.table.scale(0, 31), 0.0482352152466774f);
  EXPECT_EQ(static_cast<double>(r.table.scale(0, 0)), 0.0152239128947258);
}

// ------------------------------------------------------------------------------------------------
// V1 - V6

TEST(LoaderV1, DtypeMismatchEvenWithoutContext) {
  for (const char* dt : {"\"fp8\"", "\"float8_e4m3fnuz\"", "\"FLOAT8_E4M3FN\""}) {
    const std::string found = dt;
    const std::string msg = "expected \"float8_e4m3fn\", found " + found +
                            " (hint: the scales are calibrated for e4m3fn; the cache format is chosen at load time)";
    expect_one(load(doc(1, 1, nullptr, "\"llama\"", dt)), DiagCode::dtype_mismatch, "/kv_cache/dtype", msg);
    expect_one(load(doc(1, 1, nullptr, "\"llama\"", dt), ctx(1, 0, 1)), DiagCode::dtype_mismatch, "/kv_cache/dtype",
               msg);
  }
}

TEST(LoaderV2, RankMissing) {
  expect_one(load(doc(1, 2), ctx(2, 0, 2)), DiagCode::rank_missing, kSf,
             "expected rank \"1\" (ranks 0..1), found no such key");
  // Without a context the ranks must be 0..n-1.
  expect_one(load(with_sf("{\"0\": {\"0\": 1}, \"2\": {\"0\": 1}}")), DiagCode::rank_missing, kSf,
             "expected rank \"1\" (ranks 0..2), found no such key");
}

TEST(LoaderV2, RankUnexpected) {
  expect_one(load(doc(2, 2), ctx(1, 0, 2)), DiagCode::rank_unexpected, std::string(kSf) + "/1",
             "expected a rank in 0..0 (tp_size 1), found rank 1");
}

TEST(LoaderV3, EveryRankNeedsEveryLayer) {
  // Rank 1 (not the current rank 0) lacks layer 2.
  expect_one(load(with_sf("{\"0\": {\"0\": 1, \"1\": 1, \"2\": 1}, \"1\": {\"0\": 1, \"1\": 1}}"), ctx(2, 0, 3)),
             DiagCode::layer_missing, std::string(kSf) + "/1", "expected layer \"2\" (layers 0..2), found no such key");
  // Without a context every rank needs the same layers 0..L-1.
  expect_one(load(with_sf("{\"0\": {\"0\": 1, \"1\": 1, \"2\": 1}, \"1\": {\"0\": 1, \"1\": 1}}")),
             DiagCode::layer_missing, std::string(kSf) + "/1", "expected layer \"2\" (layers 0..2), found no such key");
}

TEST(LoaderV3, LayerUnexpected) {
  expect_one(load(doc(1, 3), ctx(1, 0, 2)), DiagCode::layer_unexpected, std::string(kSf) + "/0/2",
             "expected a layer in 0..1 (num_hidden_layers 2), found layer 2");
}

TEST(LoaderV4, TpRankOutOfRange) {
  expect_one(load(doc(2, 1), ctx(2, 2, 1)), DiagCode::tp_rank_out_of_range, "",
             "expected tp_rank in 0..1 (tp_size 2), found 2");
  expect_one(load(doc(2, 1), ctx(2, -1, 1)), DiagCode::tp_rank_out_of_range, "",
             "expected tp_rank in 0..1 (tp_size 2), found -1");
}

TEST(LoaderV5, ModelTypeMismatch) {
  expect_one(load(doc(1, 1), ctx(1, 0, 1, "mistral")), DiagCode::model_type_mismatch, "/model_type",
             "expected model_type \"mistral\" (from the context), found \"llama\"");
  expect_one(load(doc(1, 1, nullptr, "null"), ctx(1, 0, 1, "llama")), DiagCode::model_type_mismatch, "/model_type",
             "expected model_type \"llama\" (from the context), found null");
  // Without a model_type in the context there is nothing to compare.
  EXPECT_TRUE(load(doc(1, 1), ctx(1, 0, 1)).ok());
}

TEST(LoaderV6, MissingKeys) {
  expect_one(load("{\"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {}}}"), DiagCode::missing_key, "",
             "expected key \"model_type\", found no such key");
  expect_one(load("{\"model_type\": null}"), DiagCode::missing_key, "", "expected key \"kv_cache\", found no such key");
  expect_one(load("{\"model_type\": null, \"kv_cache\": {\"scaling_factor\": {}}}"), DiagCode::missing_key, "/kv_cache",
             "expected key \"dtype\", found no such key");
  expect_one(load("{\"model_type\": null, \"kv_cache\": {\"dtype\": \"float8_e4m3fn\"}}"), DiagCode::missing_key,
             "/kv_cache", "expected key \"scaling_factor\", found no such key");
}

TEST(LoaderV6, WrongTypes) {
  expect_one(load(doc(1, 1, nullptr, "3")), DiagCode::wrong_type, "/model_type",
             "expected a string or null, found a number");
  expect_one(load("{\"model_type\": \"x\", \"kv_cache\": []}"), DiagCode::wrong_type, "/kv_cache",
             "expected an object, found an array");
  expect_one(load(doc(1, 1, nullptr, "\"llama\"", "null")), DiagCode::wrong_type, "/kv_cache/dtype",
             "expected a string, found null");
  expect_one(load(with_sf("[]")), DiagCode::wrong_type, kSf, "expected an object (rank -> layers), found an array");
  expect_one(load(with_sf("{\"0\": 0.5}")), DiagCode::wrong_type, std::string(kSf) + "/0",
             "expected an object (layer -> scale), found a number");
}

// ------------------------------------------------------------------------------------------------
// H1 - H7

TEST(LoaderH1, NonCanonicalKeys) {
  for (const char* key : {"01", " 1", "1 ", "+1", "1.0", "1_0", "-1", "rank0", "00", "", "2147483648", "1e0"}) {
    const std::string k = key;
    const std::string q = "\"" + k + "\"";
    // As a layer key.
    expect_one(load(with_sf("{\"0\": {\"0\": 1, " + q + ": 1}}")), DiagCode::key_not_canonical,
               std::string(kSf) + "/0/" + k,
               "expected a layer key in canonical decimal form (0, or 1-9 then digits, within int32), found " + q +
                   " (hint: vLLM coerces it to an integer; write the plain number)");
    // As a rank key.
    expect_one(load(with_sf("{\"0\": {\"0\": 1}, " + q + ": {\"0\": 1}}"), ctx(2, 0, 1)), DiagCode::key_not_canonical,
               std::string(kSf) + "/" + k,
               "expected a rank key in canonical decimal form (0, or 1-9 then digits, within int32), found " + q +
                   " (hint: vLLM coerces it to an integer; write the plain number)");
  }
}

TEST(LoaderH1, CollidingKeysThatVllmAccepts) {
  // vLLM: "0" and "00" both become 0, the later wins, and a 2-layer context passes.
  const auto r = load(with_sf("{\"0\": {\"0\": 1, \"00\": 2, \"1\": 3}}"), ctx(1, 0, 2));
  expect_one(r, DiagCode::key_not_canonical, std::string(kSf) + "/0/00",
             "expected a layer key in canonical decimal form (0, or 1-9 then digits, within int32), found \"00\" "
             "(hint: vLLM coerces it to an integer; write the plain number)");
}

TEST(LoaderH2, DuplicateKeysAnywhere) {
  const std::string msg5 =
      "expected each key once per object, found \"5\" again (hint: JSON parsers keep only the last value; remove one)";
  expect_one(
      load(with_sf("{\"0\": {\"5\": 1, \"0\": 1, \"1\": 1, \"2\": 1, \"3\": 1, \"4\": 1, \"5\": 2}}"), ctx(1, 0, 6)),
      DiagCode::duplicate_key, std::string(kSf) + "/0/5", msg5);
  expect_one(load("{\"model_type\": \"a\", \"model_type\": \"a\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", "
                  "\"scaling_factor\": {}}}"),
             DiagCode::duplicate_key, "/model_type",
             "expected each key once per object, found \"model_type\" again (hint: JSON parsers keep only the last "
             "value; remove one)");
  const auto r = load(
      "{\"x\": [{\"a/b\": 1, \"a/b\": 2}], \"model_type\": \"a\", \"kv_cache\": {\"dtype\": "
      "\"float8_e4m3fn\", \"scaling_factor\": {}}}");
  expect_one(r, DiagCode::duplicate_key, "/x/0/a~1b",
             "expected each key once per object, found \"a/b\" again (hint: JSON parsers keep only the last value; "
             "remove one)");
}

TEST(LoaderH3, ScaleNotNumber) {
  const std::string hint = " (hint: write the scale as a number > 0)";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"0.5\"", "a string (hint: remove the quotes; vLLM converts strings silently)"},
      {"true", "a boolean" + hint},
      {"false", "a boolean" + hint},
      {"null", "null" + hint},
      {"[0.5]", "an array" + hint},
      {"{\"v\": 0.5}", "an object" + hint}};
  for (const auto& [text, found] : cases) {
    expect_one(load(doc(1, 2, [&](int, int l) { return l ? text : std::string("1"); }), ctx(1, 0, 2)),
               DiagCode::scale_not_number, std::string(kSf) + "/0/1",
               "expected a scale as a JSON number, found " + found);
  }
}

TEST(LoaderH4, NanAndInfinityTokens) {
  // doc(1,2) text: the layer-1 value starts at a fixed offset we compute from the text itself.
  for (const char* tok : {"NaN", "Infinity", "-Infinity"}) {
    const std::string j = doc(1, 2, [&](int, int l) { return std::string(l ? tok : "1"); });
    const std::size_t off = j.find(tok);
    expect_one(load(j), DiagCode::nan_or_infinity, std::string(kSf) + "/0/1",
               std::string("expected a JSON number, found the non-standard token ") + tok + " at byte " +
                   std::to_string(off) + " (hint: JSON has no NaN or Infinity; write a finite scale > 0)");
  }
  // Anywhere in the file, and every one of them is reported.
  const auto r = load(
      "{\"model_type\": \"a\", \"x\": [NaN, Infinity], \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", "
      "\"scaling_factor\": {\"0\": {\"0\": -Infinity}}}}");
  ASSERT_EQ(r.diagnostics.size(), 3u) << dump(r);
  EXPECT_EQ(r.diagnostics[0].pointer, "/x/0");
  EXPECT_EQ(r.diagnostics[1].pointer, "/x/1");
  EXPECT_EQ(r.diagnostics[2].pointer, std::string(kSf) + "/0/0");
  for (const auto& d : r.diagnostics) EXPECT_EQ(d.code, DiagCode::nan_or_infinity);
  // Inside strings they are text; lowercase nan is a syntax error, as in Python.
  EXPECT_TRUE(load(doc(1, 1, nullptr, "\"NaN Infinity\"")).ok());
  const auto lower = load(doc(1, 1, [](int, int) { return std::string("nan"); }));
  ASSERT_EQ(lower.diagnostics.size(), 1u);
  EXPECT_EQ(lower.diagnostics[0].code, DiagCode::syntax_error);
  const auto glued = load(doc(1, 1, [](int, int) { return std::string("1NaN"); }));
  ASSERT_EQ(glued.diagnostics.size(), 1u);
  EXPECT_EQ(glued.diagnostics[0].code, DiagCode::syntax_error);
}

TEST(LoaderH5, ScaleOutOfRange) {
  const std::string hint = " (hint: scales are amax / 448 of a calibration run)";
  const std::string big(400, '9');
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"0", "0"},
      {"0.0", "0.0"},
      {"-0.0", "-0.0"},
      {"-0.5", "-0.5"},
      {"-3", "-3"},
      {"1e39", "1e39 (inf as float32)"},
      {"3.5e38", "3.5e38 (inf as float32)"},
      {"1e-50", "1e-50 (0 as float32)"},
      {"1e400", "1e400 (beyond the double range)"},
      {"-1e400", "-1e400 (beyond the double range)"},
      {big, big.substr(0, 40) + "... (beyond the double range)"}};
  for (const auto& [text, found] : cases) {
    expect_one(load(doc(1, 2, [&](int, int l) { return l ? text : std::string("1"); }), ctx(1, 0, 2)),
               DiagCode::scale_out_of_range, std::string(kSf) + "/0/1",
               "expected a finite float32 scale > 0, found " + found + hint);
  }
  // A double overflow outside the scales is a number like any other.
  EXPECT_TRUE(load("{\"model_type\": null, \"x\": 1e400, \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", "
                   "\"scaling_factor\": {\"0\": {\"0\": 0.5}}}}")
                  .ok());
}

TEST(LoaderH6, FileTooLargeInMemory) {
  LoadOptions o;
  o.limits.max_file_bytes = 10;
  expect_one(kvscale::load_scales_json(doc(1, 1), o), DiagCode::file_too_large, "",
             "expected at most 10 bytes, found " + std::to_string(doc(1, 1).size()) + " bytes");
}

std::string nested(int levels) {
  std::string inner = "0";
  return "{\"model_type\": null, \"x\": " + std::string(static_cast<std::size_t>(levels - 1), '[') + inner +
         std::string(static_cast<std::size_t>(levels - 1), ']') +
         ", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {\"0\": {\"0\": 0.5}}}}";
}

TEST(LoaderH6, NestingDepth) {
  EXPECT_TRUE(load(nested(64)).ok()) << dump(load(nested(64)));
  std::string ptr = "/x";
  for (int i = 0; i < 63; ++i) ptr += "/0";
  expect_one(load(nested(65)), DiagCode::nesting_too_deep, ptr,
             "expected JSON nesting of at most 64 levels, found level 65");
}

TEST(LoaderH6, MillionOpenBrackets) {
  const std::string j(1000000, '[');
  expect_one(load(j), DiagCode::not_an_object, "", "expected a JSON object at the top level, found an array");
  const std::string k = "{\"a\":" + std::string(1000000, '[');
  const auto r = load(k);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::nesting_too_deep);
}

TEST(LoaderH6, TooManyRanksAndLayers) {
  expect_one(load(with_sf("{\"65536\": {}}")), DiagCode::too_many_ranks, std::string(kSf) + "/65536",
             "expected rank indices below 65536, found rank 65536");
  expect_one(load(with_sf("{\"0\": {\"65536\": 1}}")), DiagCode::too_many_layers, std::string(kSf) + "/0/65536",
             "expected layer indices below 65536, found layer 65536");
  const auto r = load(doc(1, 1), ctx(65537, 0, 70000));
  ASSERT_EQ(r.diagnostics.size(), 2u) << dump(r);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::too_many_ranks);
  EXPECT_EQ(r.diagnostics[0].message, "expected tp_size <= 65536 in the context, found 65537");
  EXPECT_EQ(r.diagnostics[1].code, DiagCode::too_many_layers);
  EXPECT_EQ(r.diagnostics[1].message, "expected num_hidden_layers <= 65536 in the context, found 70000");
  // A far-away key must not make the loader allocate or loop over 2^31 slots.
  const auto far = load(with_sf("{\"0\": {\"2147483647\": 1}}"));
  ASSERT_EQ(far.diagnostics.size(), 1u);
  EXPECT_EQ(far.diagnostics[0].code, DiagCode::too_many_layers);
}

// nlohmann stops at a NUL byte as if the input ended there; what follows must still be trailing data.
TEST(LoaderH7, TrailingDataAfterNul) {
  const std::string d = doc(1, 1);
  expect_one(load(d + std::string("\0junk{", 6)), DiagCode::trailing_data, "",
             "expected the end of the file after the top-level object, found byte 0x00 at byte " +
                 std::to_string(d.size()) + " (hint: a file holds exactly one JSON object)");
}

TEST(LoaderH7, Bom) {
  expect_one(load("\xEF\xBB\xBF" + doc(1, 1)), DiagCode::utf8_bom, "",
             "expected JSON text, found a UTF-8 byte order mark (EF BB BF) at byte 0 (hint: save the file as UTF-8 "
             "without a BOM)");
}

TEST(LoaderH7, InvalidUtf8Anywhere) {
  const std::string base = doc(1, 1, nullptr, "\"llama\"");
  const std::size_t at = base.find("llama") + 2;
  for (const std::string bad : {"\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"}) {
    std::string j = base;
    j.insert(at, bad);
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned>(static_cast<unsigned char>(bad[0])));
    expect_one(load(j), DiagCode::invalid_utf8, "",
               std::string("expected UTF-8 text, found an invalid byte sequence starting with ") + hex + " at byte " +
                   std::to_string(at));
  }
  // Outside strings too.
  std::string j = base + " \x80";
  expect_one(load(j), DiagCode::invalid_utf8, "",
             "expected UTF-8 text, found an invalid byte sequence starting with 0x80 at byte " +
                 std::to_string(base.size() + 1));
  // Valid multi-byte text is fine.
  EXPECT_TRUE(load(doc(1, 1, nullptr, "\"ll\xC3\xA4ma \xF0\x9F\x98\x80\"")).ok());
}

TEST(LoaderH7, LoneSurrogateEscape) {
  const auto r = load(doc(1, 1, nullptr, "\"\\ud800\""));
  ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::invalid_utf8);
  EXPECT_EQ(r.diagnostics[0].pointer, "/model_type");
}

TEST(LoaderH7, TrailingData) {
  const std::string j = doc(1, 1);
  expect_one(load(j + " \n }"), DiagCode::trailing_data, "",
             "expected the end of the file after the top-level object, found '}' at byte " +
                 std::to_string(j.size() + 3) + " (hint: a file holds exactly one JSON object)");
  expect_one(load(j + "{}"), DiagCode::trailing_data, "",
             "expected the end of the file after the top-level object, found '{' at byte " + std::to_string(j.size()) +
                 " (hint: a file holds exactly one JSON object)");
  EXPECT_TRUE(load(j + " \n\t\r\n").ok());
}

TEST(LoaderH7, NotAnObject) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"[]", "an array"},    {"\"x\"", "a string"},
                                                                  {"1", "a number"},     {"null", "null"},
                                                                  {"true", "a boolean"}, {"NaN", "a number"}};
  for (const auto& [text, found] : cases)
    expect_one(load(text), DiagCode::not_an_object, "", "expected a JSON object at the top level, found " + found);
}

TEST(LoaderSyntax, EmptyWhitespaceAndBrokenJson) {
  expect_one(load(""), DiagCode::syntax_error, "", "expected a JSON object, found an empty file");
  expect_one(load(" \n\t"), DiagCode::syntax_error, "", "expected a JSON object, found only whitespace");
  expect_one(load("{\"model_type\": }"), DiagCode::syntax_error, "/model_type",
             "expected valid JSON, found a syntax error at line 1, column 16 (byte 16): syntax error while parsing "
             "value - unexpected '}'; expected '[', '{', or a literal");
  const auto r = load("{\"a\": 1,}");
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::syntax_error);
}

// ------------------------------------------------------------------------------------------------
// Collecting, policy, context

TEST(LoaderCollect, AllProblemsInFileOrderThenSetChecks) {
  const auto r = load(with_sf("{\"0\": {\"0\": \"1\", \"01\": 1, \"2\": 0}}"), ctx(2, 0, 3));
  ASSERT_EQ(r.diagnostics.size(), 4u) << dump(r);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::scale_not_number);
  EXPECT_EQ(r.diagnostics[1].code, DiagCode::key_not_canonical);
  EXPECT_EQ(r.diagnostics[2].code, DiagCode::scale_out_of_range);
  EXPECT_EQ(r.diagnostics[3].code, DiagCode::rank_missing);
}

TEST(LoaderCollect, CappedAtMaxDiagnostics) {
  const auto r = load(doc(1, 300, [](int, int) { return std::string("0"); }));
  ASSERT_EQ(r.diagnostics.size(), 101u);
  EXPECT_EQ(r.diagnostics[99].pointer, std::string(kSf) + "/0/99");
  EXPECT_EQ(r.diagnostics[100].code, DiagCode::too_many_diagnostics);
  EXPECT_EQ(r.diagnostics[100].pointer, "");
  EXPECT_EQ(r.diagnostics[100].message, "expected at most 100 diagnostics, found more; the rest are not listed");
  LoadOptions o;
  o.limits.max_diagnostics = 3;
  EXPECT_EQ(kvscale::load_scales_json(doc(1, 300, [](int, int) { return std::string("0"); }), o).diagnostics.size(),
            4u);
}

TEST(LoaderContext, InvalidContext) {
  const auto r = load(doc(1, 1), ctx(0, -1, -1));
  ASSERT_EQ(r.diagnostics.size(), 3u) << dump(r);
  EXPECT_EQ(kvscale::format_diagnostic(r.diagnostics[0]),
            ": invalid_context: expected tp_size >= 1 in the context, found 0");
  EXPECT_EQ(kvscale::format_diagnostic(r.diagnostics[1]),
            ": invalid_context: expected num_hidden_layers >= 0 in the context, found -1");
  EXPECT_EQ(kvscale::format_diagnostic(r.diagnostics[2]), ": tp_rank_out_of_range: expected tp_rank >= 0, found -1");
  EXPECT_TRUE(r.table.empty());
}

TEST(LoaderContext, ZeroLayers) {
  const auto r = load(with_sf("{\"0\": {}}"), ctx(1, 0, 0));
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_EQ(r.table.tp_size(), 1);
  EXPECT_EQ(r.table.num_layers(), 0);
}

TEST(LoaderPolicy, UnitFallbackKeepsDiagnostics) {
  LoadOptions o;
  o.context = ctx(2, 1, 3, "llama");
  o.on_failure = kvscale::FailurePolicy::unit_fallback;
  const auto r = kvscale::load_scales_json(doc(1, 3), o);
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::rank_missing);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.used_fallback);
  ASSERT_EQ(r.table.tp_size(), 2);
  ASSERT_EQ(r.table.num_layers(), 3);
  for (int rk = 0; rk < 2; ++rk)
    for (int l = 0; l < 3; ++l) EXPECT_EQ(r.table.scale(rk, l), 1.0f);
  // A valid file never uses the fallback.
  const auto ok = kvscale::load_scales_json(doc(2, 3), o);
  EXPECT_TRUE(ok.ok());
  EXPECT_FALSE(ok.used_fallback);
  EXPECT_EQ(ok.table.scale(1, 2), 0.015625f);
  // Without a context there is nothing to size the fallback by.
  o.context.reset();
  const auto none = kvscale::load_scales_json("[]", o);
  EXPECT_FALSE(none.used_fallback);
  EXPECT_TRUE(none.table.empty());
}

TEST(LoaderPolicy, DefaultIsError) {
  const auto r = load(doc(1, 3), ctx(2, 1, 3));
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(r.used_fallback);
  EXPECT_TRUE(r.table.empty());
}

TEST(DiagCodes, NamesAndRulesAreStable) {
  EXPECT_STREQ(kvscale::diag_code_name(DiagCode::layer_missing), "layer_missing");
  EXPECT_EQ(static_cast<int>(DiagCode::file_not_found), 1);
  EXPECT_EQ(static_cast<int>(DiagCode::too_many_diagnostics), 30);
  EXPECT_STREQ(kvscale::diag_code_rule(DiagCode::layer_missing), "V3");
  EXPECT_STREQ(kvscale::diag_code_rule(DiagCode::scale_out_of_range), "H5");
  EXPECT_STREQ(kvscale::diag_code_rule(DiagCode::read_error), "IO");
  for (int c = 1; c <= 30; ++c) EXPECT_STRNE(kvscale::diag_code_name(static_cast<DiagCode>(c)), "unknown") << c;
}

// ------------------------------------------------------------------------------------------------
// Effective scales

TEST(EffectiveScale, FnuzDoublesUnlessDisabled) {
  kvscale::ScaleConversion fn{kvscale::Fp8Format::e4m3fn, true};
  kvscale::ScaleConversion fnuz{kvscale::Fp8Format::e4m3fnuz, true};
  kvscale::ScaleConversion off{kvscale::Fp8Format::e4m3fnuz, false};
  EXPECT_EQ(kvscale::effective_scale(0.0152239128947258f, fn), 0.0152239128947258f);
  EXPECT_EQ(kvscale::effective_scale(0.0152239128947258f, fnuz), 0.0304478257894516f);
  EXPECT_EQ(kvscale::effective_scale(0.0152239128947258f, off), 0.0152239128947258f);
}

TEST(EffectiveScale, RankScalesAndPipelineRanges) {
  const auto r = load(doc(2, 4, [](int rk, int l) { return std::to_string(rk * 10 + l + 1); }));
  ASSERT_TRUE(r.ok());
  kvscale::ScaleConversion fnuz{kvscale::Fp8Format::e4m3fnuz, true};
  using kvscale::Status;
  std::vector<float> out;
  ASSERT_EQ(kvscale::effective_rank_scales(r.table, 1, {}, fnuz, &out), Status::success)
      << kvscale::last_error_message();
  EXPECT_EQ(out, (std::vector<float>{22, 24, 26, 28}));
  ASSERT_EQ(kvscale::effective_rank_scales(r.table, 0, {1, 2}, {}, &out), Status::success)
      << kvscale::last_error_message();
  EXPECT_EQ(out, (std::vector<float>{2, 3}));
  ASSERT_EQ(kvscale::effective_rank_scales(r.table, 0, {3, -1}, {}, &out), Status::success)
      << kvscale::last_error_message();
  EXPECT_EQ(out, (std::vector<float>{4}));
  ASSERT_EQ(kvscale::effective_rank_scales(r.table, 0, {4, -1}, {}, &out), Status::success)
      << kvscale::last_error_message();
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(kvscale::effective_rank_scales(r.table, 2, {}, {}, &out), Status::invalid_argument);
  EXPECT_EQ(kvscale::last_error_message(), "rank 2 is outside the table's ranks 0..1");
  EXPECT_EQ(kvscale::effective_rank_scales(r.table, -1, {}, {}, &out), Status::invalid_argument);
  EXPECT_EQ(kvscale::effective_rank_scales(r.table, 0, {3, 2}, {}, &out), Status::invalid_argument);
  EXPECT_EQ(kvscale::last_error_message(), "layer range [3, 3+2) exceeds the table's 4 layers");
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(kvscale::effective_rank_scales(r.table, 0, {5, -1}, {}, &out), Status::invalid_argument);
  EXPECT_EQ(kvscale::effective_rank_scales(r.table, 0, {-1, 1}, {}, &out), Status::invalid_argument);
  EXPECT_EQ(kvscale::effective_rank_scales(kvscale::ScaleTable(), 0, {}, {}, &out), Status::invalid_argument);
}

}  // namespace
