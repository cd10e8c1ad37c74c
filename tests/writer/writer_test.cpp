// write_scales_json / write_scales_safetensors: bit-exact round trips, refusals (K != V, per head,
// ranks that differ, an existing file), atomicity, and the exact bytes of a small .safetensors.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/temp_dir.hpp"
#include "kvscale/scales.hpp"

namespace {

using kvscale::Granularity;
using kvscale::MergePolicy;
using kvscale::ScaleEntry;
using kvscale::ScaleTable;
using kvscale::Status;
using kvscale::WriteOptions;
using kvscale::test::TempDir;

const std::string kData = KVSCALE_TEST_DATA_DIR;
const std::string k7b = kData + "/vllm/llama2-7b-fp8-kv/kv_cache_scales.json";
const std::string k70b = kData + "/vllm/llama2-70b-fp8-kv/kv_cache_scales.json";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::uint32_t bits(float f) {
  std::uint32_t b = 0;
  std::memcpy(&b, &f, 4);
  return b;
}

ScaleEntry tensor(float v) { return ScaleEntry{Granularity::tensor, {v}}; }
ScaleEntry heads(std::vector<float> v) { return ScaleEntry{Granularity::head, std::move(v)}; }

// Every K and V of every rank and layer, bit for bit, plus the shape and model_type.
void expect_same_table(const ScaleTable& a, const ScaleTable& b) {
  ASSERT_EQ(a.tp_size(), b.tp_size());
  ASSERT_EQ(a.num_layers(), b.num_layers());
  EXPECT_EQ(a.model_type(), b.model_type());
  for (int r = 0; r < a.tp_size(); ++r)
    for (int l = 0; l < a.num_layers(); ++l) {
      SCOPED_TRACE("rank " + std::to_string(r) + " layer " + std::to_string(l));
      ASSERT_EQ(a.k_count(r, l), b.k_count(r, l));
      ASSERT_EQ(a.v_count(r, l), b.v_count(r, l));
      EXPECT_EQ(a.k_granularity(r, l), b.k_granularity(r, l));
      EXPECT_EQ(a.v_granularity(r, l), b.v_granularity(r, l));
      for (int i = 0; i < a.k_count(r, l); ++i) EXPECT_EQ(bits(a.k_scales(r, l)[i]), bits(b.k_scales(r, l)[i]));
      for (int i = 0; i < a.v_count(r, l); ++i) EXPECT_EQ(bits(a.v_scales(r, l)[i]), bits(b.v_scales(r, l)[i]));
    }
}

// A 2-rank scales file whose values need all 9 digits (and one subnormal-adjacent tiny value).
ScaleTable awkward_two_rank_table() {
  std::vector<float> s;
  for (int r = 0; r < 2; ++r)
    for (int l = 0; l < 5; ++l) s.push_back(std::nextafter(0.0152239129f * static_cast<float>(l + 1 + r), 1.0f));
  s[3] = 1.17549435e-38f;
  s[7] = 3.40282347e+38f;
  return ScaleTable(2, 5, s, std::string("we\"ird\\type"));
}

TEST(WriteScalesJson, RoundTripsFixturesBitExactly) {
  for (const std::string& src : {k7b, k70b}) {
    SCOPED_TRACE(src);
    const kvscale::LoadResult in = kvscale::load_scales_file(src);
    ASSERT_TRUE(in.ok());
    TempDir d;
    ASSERT_EQ(kvscale::write_scales_json(in.table, d / "out.json"), Status::success) << kvscale::last_error_message();
    const kvscale::LoadResult back = kvscale::load_scales_file(d / "out.json");
    ASSERT_TRUE(back.ok()) << kvscale::format_diagnostic(back.diagnostics.at(0));
    EXPECT_TRUE(back.warnings.empty());
    expect_same_table(in.table, back.table);
    EXPECT_EQ(d.names(), std::vector<std::string>{"out.json"});  // no temporary file left behind
  }
}

TEST(WriteScalesJson, RoundTripsAwkwardValuesAndModelType) {
  const ScaleTable t = awkward_two_rank_table();
  TempDir d;
  ASSERT_EQ(kvscale::write_scales_json(t, d / "a.json"), Status::success) << kvscale::last_error_message();
  const kvscale::LoadResult back = kvscale::load_scales_file(d / "a.json");
  ASSERT_TRUE(back.ok()) << kvscale::format_diagnostic(back.diagnostics.at(0));
  expect_same_table(t, back.table);
  struct stat st {};
  ASSERT_EQ(::stat((d / "a.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0600, 0600u);
}

TEST(WriteScalesJson, NullModelType) {
  const ScaleTable t(1, 1, {0.5f}, std::nullopt);
  TempDir d;
  ASSERT_EQ(kvscale::write_scales_json(t, d / "n.json"), Status::success);
  EXPECT_NE(slurp(d / "n.json").find("\"model_type\": null"), std::string::npos);
}

TEST(WriteScalesJson, KNotEqualVNeedsMergeMax) {
  const ScaleTable t(1, 2, 0, {tensor(0.5f), tensor(0.25f)}, {tensor(0.5f), tensor(0.75f)}, std::string("llama"));
  TempDir d;
  EXPECT_EQ(kvscale::write_scales_json(t, d / "kv.json"), Status::invalid_argument);
  EXPECT_NE(kvscale::last_error_message().find("rank 0 layer 1: K scale 0.25 != V scale 0.75"), std::string::npos)
      << kvscale::last_error_message();
  EXPECT_TRUE(d.names().empty());
  ASSERT_EQ(kvscale::write_scales_json(t, d / "kv.json", WriteOptions{MergePolicy::max, false}), Status::success);
  const kvscale::LoadResult back = kvscale::load_scales_file(d / "kv.json");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.table.scale(0, 0), 0.5f);
  EXPECT_EQ(back.table.scale(0, 1), 0.75f);
}

TEST(WriteScalesJson, PerHeadNeedsMergeMaxWhichTakesTheMaxOverHeadsAndKV) {
  const ScaleTable t(1, 1, 3, {heads({0.5f, 2.0f, 0.25f})}, {heads({1.0f, 1.5f, 0.125f})}, std::nullopt);
  TempDir d;
  EXPECT_EQ(kvscale::write_scales_json(t, d / "h.json"), Status::invalid_argument);
  EXPECT_NE(kvscale::last_error_message().find("per-head"), std::string::npos) << kvscale::last_error_message();
  ASSERT_EQ(kvscale::write_scales_json(t, d / "h.json", WriteOptions{MergePolicy::max, false}), Status::success);
  EXPECT_EQ(kvscale::load_scales_file(d / "h.json").table.scale(0, 0), 2.0f);
}

TEST(WriteScalesJson, EmptyTableIsRefused) {
  TempDir d;
  EXPECT_EQ(kvscale::write_scales_json(ScaleTable(), d / "e.json"), Status::invalid_argument);
  EXPECT_EQ(kvscale::write_scales_safetensors(ScaleTable(), d / "e.safetensors"), Status::invalid_argument);
  EXPECT_TRUE(d.names().empty());
}

TEST(AtomicWrite, ExistingFileNeedsForceAndIsUntouchedOtherwise) {
  const ScaleTable t(1, 1, {0.5f}, std::nullopt);
  TempDir d;
  spit(d / "x.json", "precious");
  EXPECT_EQ(kvscale::write_scales_json(t, d / "x.json"), Status::invalid_argument);
  EXPECT_NE(kvscale::last_error_message().find("exists"), std::string::npos);
  EXPECT_EQ(slurp(d / "x.json"), "precious");
  EXPECT_EQ(kvscale::write_scales_safetensors(t, d / "x.json"), Status::invalid_argument);
  EXPECT_EQ(slurp(d / "x.json"), "precious");
  EXPECT_EQ(d.names(), std::vector<std::string>{"x.json"});
  ASSERT_EQ(kvscale::write_scales_json(t, d / "x.json", WriteOptions{MergePolicy::none, true}), Status::success);
  EXPECT_TRUE(kvscale::load_scales_file(d / "x.json").ok());
  EXPECT_EQ(d.names(), std::vector<std::string>{"x.json"});
}

TEST(AtomicWrite, DanglingSymlinkCountsAsExisting) {
  const ScaleTable t(1, 1, {0.5f}, std::nullopt);
  TempDir d;
  ASSERT_EQ(::symlink("nowhere", (d / "l.json").c_str()), 0);
  EXPECT_EQ(kvscale::write_scales_json(t, d / "l.json"), Status::invalid_argument);
  EXPECT_EQ(d.names(), std::vector<std::string>{"l.json"});
}

TEST(AtomicWrite, UnwritableDirectoryFailsCleanly) {
  const ScaleTable t(1, 1, {0.5f}, std::nullopt);
  EXPECT_NE(kvscale::write_scales_json(t, "/nonexistent-kvscale-dir/out.json"), Status::success);
  EXPECT_NE(kvscale::last_error_message().find("/nonexistent-kvscale-dir/out.json"), std::string::npos);
  TempDir d;
  // OUT is a directory: the rename fails (with force) and the temporary file is removed.
  ASSERT_EQ(::mkdir((d / "dir.json").c_str(), 0755), 0);
  EXPECT_NE(kvscale::write_scales_json(t, d / "dir.json", WriteOptions{MergePolicy::none, true}), Status::success);
  EXPECT_EQ(d.names(), std::vector<std::string>{"dir.json"});
  ::rmdir((d / "dir.json").c_str());
}

// ---- safetensors -------------------------------------------------------------------------------

std::string le32(float f) {
  const std::uint32_t b = bits(f);
  return std::string{static_cast<char>(b & 0xFF), static_cast<char>((b >> 8) & 0xFF),
                     static_cast<char>((b >> 16) & 0xFF), static_cast<char>(b >> 24)};
}

std::string le64(std::uint64_t v) {
  std::string s;
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
  return s;
}

TEST(WriteScalesSafetensors, ExactBytesPerTensor) {
  const ScaleTable t(1, 1, 0, {tensor(0.5f)}, {tensor(0.25f)}, std::nullopt);
  TempDir d;
  ASSERT_EQ(kvscale::write_scales_safetensors(t, d / "s.safetensors"), Status::success)
      << kvscale::last_error_message();
  // 198 bytes of JSON, padded with two spaces to 200 (a multiple of 8).
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"model.layers.0.self_attn.k_scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
      "\"model.layers.0.self_attn.v_scale\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}  ";
  ASSERT_EQ(header.size(), 200u);
  // 0.5f = 0x3F000000 and 0.25f = 0x3E800000, little-endian.
  const std::string expect = le64(200) + header + std::string("\x00\x00\x00\x3F\x00\x00\x80\x3E", 8);
  EXPECT_EQ(expect.substr(208), le32(0.5f) + le32(0.25f));
  EXPECT_EQ(slurp(d / "s.safetensors"), expect);
  EXPECT_EQ(d.names(), std::vector<std::string>{"s.safetensors"});
}

TEST(WriteScalesSafetensors, ExactBytesPerHead) {
  const ScaleTable t(1, 1, 2, {heads({0.5f, 1.0f})}, {heads({2.0f, 0.125f})}, std::nullopt);
  TempDir d;
  ASSERT_EQ(kvscale::write_scales_safetensors(t, d / "h.safetensors"), Status::success);
  // 201 bytes of JSON, padded with 7 spaces to 208.
  const std::string header =
      "{\"__metadata__\":{\"format\":\"pt\"},"
      "\"model.layers.0.self_attn.k_scale\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
      "\"model.layers.0.self_attn.v_scale\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}       ";
  ASSERT_EQ(header.size(), 208u);
  const std::string expect = le64(208) + header + le32(0.5f) + le32(1.0f) + le32(2.0f) + le32(0.125f);
  EXPECT_EQ(slurp(d / "h.safetensors"), expect);
}

TEST(WriteScalesSafetensors, RanksMustAgreeUnlessMergeMax) {
  const ScaleTable t(2, 2, {0.5f, 0.25f, 0.5f, 0.75f}, std::nullopt);
  TempDir d;
  EXPECT_EQ(kvscale::write_scales_safetensors(t, d / "r.safetensors"), Status::invalid_argument);
  EXPECT_NE(kvscale::last_error_message().find("rank 1 layer 1 K differs from rank 0"), std::string::npos)
      << kvscale::last_error_message();
  EXPECT_TRUE(d.names().empty());
  ASSERT_EQ(kvscale::write_scales_safetensors(t, d / "r.safetensors", WriteOptions{MergePolicy::max, false}),
            Status::success);
  const std::string bytes = slurp(d / "r.safetensors");
  const std::string data = bytes.substr(bytes.size() - 16);
  EXPECT_EQ(data, le32(0.5f) + le32(0.5f) + le32(0.75f) + le32(0.75f));
  // Equal ranks need no merge.
  const ScaleTable same(2, 1, {0.5f, 0.5f}, std::nullopt);
  EXPECT_EQ(kvscale::write_scales_safetensors(same, d / "same.safetensors"), Status::success);
}

TEST(WriteScalesSafetensors, PerHeadRanksThatDifferCannotBeMerged) {
  // A TP context splits the heads: rank 0 holds heads 0-1, rank 1 heads 2-3.
  const ScaleTable t(2, 1, 2, {heads({0.5f, 1.0f}), heads({2.0f, 4.0f})}, {heads({0.5f, 1.0f}), heads({2.0f, 4.0f})},
                     std::nullopt);
  TempDir d;
  for (MergePolicy m : {MergePolicy::none, MergePolicy::max}) {
    EXPECT_EQ(kvscale::write_scales_safetensors(t, d / "p.safetensors", WriteOptions{m, false}),
              Status::invalid_argument);
    EXPECT_NE(kvscale::last_error_message().find("different KV heads"), std::string::npos)
        << kvscale::last_error_message();
  }
  EXPECT_TRUE(d.names().empty());
}

TEST(WriteScalesSafetensors, MixedGranularityNeedsMergeMax) {
  const ScaleTable t(1, 1, 2, {heads({0.5f, 1.0f})}, {tensor(0.25f)}, std::nullopt);
  TempDir d;
  EXPECT_EQ(kvscale::write_scales_safetensors(t, d / "m.safetensors"), Status::invalid_argument);
  EXPECT_NE(kvscale::last_error_message().find("mixes"), std::string::npos);
  ASSERT_EQ(kvscale::write_scales_safetensors(t, d / "m.safetensors", WriteOptions{MergePolicy::max, false}),
            Status::success);
  const std::string bytes = slurp(d / "m.safetensors");
  EXPECT_EQ(bytes.substr(bytes.size() - 8), le32(1.0f) + le32(0.25f));
}

// Round trips through load_checkpoint(), which reads the written file as a bare .safetensors.
void expect_safetensors_round_trip(const ScaleTable& t) {
  TempDir d;
  ASSERT_EQ(kvscale::write_scales_safetensors(t, d / "rt.safetensors"), Status::success)
      << kvscale::last_error_message();
  const kvscale::LoadResult back = kvscale::load_checkpoint(d / "rt.safetensors");
  ASSERT_TRUE(back.ok()) << kvscale::format_diagnostic(back.diagnostics.at(0));
  EXPECT_EQ(back.source, kvscale::SourceKind::safetensors);
  ASSERT_EQ(back.table.tp_size(), 1);
  ASSERT_EQ(back.table.num_layers(), t.num_layers());
  for (int l = 0; l < t.num_layers(); ++l) {
    SCOPED_TRACE(l);
    ASSERT_EQ(back.table.k_count(0, l), t.k_count(0, l));
    ASSERT_EQ(back.table.v_count(0, l), t.v_count(0, l));
    for (int i = 0; i < t.k_count(0, l); ++i) EXPECT_EQ(bits(back.table.k_scales(0, l)[i]), bits(t.k_scales(0, l)[i]));
    for (int i = 0; i < t.v_count(0, l); ++i) EXPECT_EQ(bits(back.table.v_scales(0, l)[i]), bits(t.v_scales(0, l)[i]));
  }
}

TEST(WriteScalesSafetensors, ScalesFileRoundTripsThroughLoadCheckpoint) {
  const kvscale::LoadResult in = kvscale::load_scales_file(k70b);
  ASSERT_TRUE(in.ok());
  expect_safetensors_round_trip(in.table);
}

TEST(WriteScalesSafetensors, PerHeadKNotEqualVRoundTripsThroughLoadCheckpoint) {
  std::vector<ScaleEntry> k, v;
  for (int l = 0; l < 3; ++l) {
    k.push_back(heads({0.01f * static_cast<float>(l + 1), 3.40282347e+38f, 1.17549435e-38f, 0.3f}));
    v.push_back(heads({0.02f, 0.03f * static_cast<float>(l + 1), 1.0f, std::nextafter(1.0f, 2.0f)}));
  }
  expect_safetensors_round_trip(ScaleTable(1, 3, 4, k, v, std::nullopt));
}

}  // namespace
