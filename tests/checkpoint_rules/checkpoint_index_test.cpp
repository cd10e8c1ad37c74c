// load_checkpoint on sharded checkpoints: the index rules (hostile shard names are never opened,
// missing shards, the index is authoritative), and that weights are never read.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "checkpoint_util.hpp"

namespace kvscale {
namespace test {
namespace {

/// Two shards: layer 0 (and a weight) in shard 1, layer 1 (and a weight) in shard 2.
class Sharded : public ::testing::Test {
 protected:
  void SetUp() override {
    write_text(dir / "config.json", config_json(2, 8, kQuarkFp8));
    auto ts = kv_scales(2);
    shard1 = {weight("model.embed_tokens.weight"), ts[0], ts[1]};
    shard2 = {ts[2], ts[3], weight("lm_head.weight")};
    write_st(dir / "model-00001-of-00002.safetensors", shard1);
    write_st(dir / "model-00002-of-00002.safetensors", shard2);
  }
  void index(const std::string& weight_map) {
    write_text(dir / "model.safetensors.index.json", "{\"metadata\":{},\"weight_map\":{" + weight_map + "}}");
  }
  std::string map_for(const std::vector<StEntry>& ts, const std::string& shard) {
    std::string s;
    for (const StEntry& t : ts) s += (s.empty() ? "" : ",") + std::string("\"") + t.name + "\":\"" + shard + "\"";
    return s;
  }
  std::string full_map() {
    return map_for(shard1, "model-00001-of-00002.safetensors") + "," +
           map_for(shard2, "model-00002-of-00002.safetensors");
  }
  TempDir dir;
  std::vector<StEntry> shard1, shard2;
};

TEST_F(Sharded, LoadsScalesFromEveryShard) {
  index(full_map());
  const auto r = load_checkpoint(dir.path());
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.table.k_scales(0, 1)[0], k_of(1));
  EXPECT_EQ(r.table.v_scales(0, 0)[0], v_of(0));
}

TEST_F(Sharded, ShardNamesThatLeaveTheDirectoryAreNeverOpened) {
  for (const char* bad :
       {"../model-00001-of-00002.safetensors", "/etc/passwd", "sub/x.safetensors", "a\\\\b.safetensors", ".."}) {
    index(full_map() + ",\"extra\":\"" + bad + "\"");
    const auto r = load_checkpoint(dir.path());
    ASSERT_EQ(r.diagnostics.size(), 1u) << bad;
    EXPECT_EQ(r.diagnostics[0].code, DiagCode::shard_path_invalid) << bad;
    EXPECT_EQ(diagnostic_location(r.diagnostics[0]), "model.safetensors.index.json:/weight_map/extra");
  }
  index(full_map() + ",\"extra\":\"../evil\"");
  EXPECT_EQ(load_checkpoint(dir.path()).diagnostics[0].message,
            "expected a plain file name in the checkpoint directory, found \"../evil\" (never opened: names from a "
            "hub may not leave the directory)");
}

TEST_F(Sharded, MissingShard) {
  index(full_map() + ",\"x\":\"model-00003-of-00002.safetensors\"");
  expect_only(load_checkpoint(dir.path()), DiagCode::shard_missing, "model.safetensors.index.json", "/weight_map/x",
              "expected shard \"model-00003-of-00002.safetensors\" to be a regular file in the checkpoint directory, "
              "found nothing");
}

TEST_F(Sharded, ScaleAssignedToAShardThatLacksIt) {
  index(map_for(shard1, "model-00001-of-00002.safetensors") + "," +
        map_for({shard2[0]}, "model-00001-of-00002.safetensors") + "," +
        map_for({shard2[1], shard2[2]}, "model-00002-of-00002.safetensors"));
  const auto r = load_checkpoint(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::tensor_not_in_shard);
  EXPECT_EQ(diagnostic_location(r.diagnostics[0]),
            "model.safetensors.index.json:/weight_map/model.layers.1.self_attn.k_scale");
}

TEST_F(Sharded, ScaleMissingFromTheIndexIsIgnoredWithAWarning) {
  index(map_for(shard1, "model-00001-of-00002.safetensors") + "," +
        map_for({shard2[1], shard2[2]}, "model-00002-of-00002.safetensors"));
  const auto r = load_checkpoint(dir.path());
  // Layer 1's K is not in the index: ignored (warning), so layer 1 has no K.
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(r.diagnostics[0].code, DiagCode::layer_missing);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_EQ(r.warnings[0].code, DiagCode::scale_not_in_index);
  EXPECT_EQ(diagnostic_location(r.warnings[0]), "model-00002-of-00002.safetensors:/model.layers.1.self_attn.k_scale");
}

TEST_F(Sharded, IndexStructure) {
  write_text(dir / "model.safetensors.index.json", "{\"weight_map\":[]}");
  expect_only(load_checkpoint(dir.path()), DiagCode::index_invalid, "model.safetensors.index.json", "/weight_map",
              "expected weight_map to be an object, found an array");
  write_text(dir / "model.safetensors.index.json", "{\"weight_map\":{\"a\":1}}");
  expect_only(load_checkpoint(dir.path()), DiagCode::index_invalid, "model.safetensors.index.json", "/weight_map/a");
  write_text(dir / "model.safetensors.index.json", "{\"weight_map\":{\"a\":\"x\",\"a\":\"y\"}}");
  expect_only(load_checkpoint(dir.path()), DiagCode::duplicate_key, "model.safetensors.index.json", "/weight_map/a");
}

TEST_F(Sharded, SymlinkedFilesAreFollowed) {
  // The Hugging Face cache links every file of a snapshot into blobs/.
  ASSERT_EQ(::mkdir((dir / "blobs").c_str(), 0755), 0);
  ASSERT_EQ(::rename((dir / "model-00002-of-00002.safetensors").c_str(), (dir / "blobs/abc").c_str()), 0);
  ASSERT_EQ(::symlink("blobs/abc", (dir / "model-00002-of-00002.safetensors").c_str()), 0);
  index(full_map());
  EXPECT_TRUE(load_checkpoint(dir.path()).ok());
}

/// Bytes this process has read through read()/pread() so far (/proc/self/io rchar).
long long bytes_read() {
  std::ifstream io("/proc/self/io");
  std::string key;
  long long v = -1;
  while (io >> key >> v)
    if (key == "rchar:") return v;
  return -1;
}

TEST(Weights, AreNeverRead) {
  TempDir dir;
  write_text(dir / "config.json", config_json(2, 8, kQuarkFp8));
  auto ts = kv_scales(2);
  StEntry big{"model.embed_tokens.weight", "BF16", {1u << 14, 1u << 10}, {}};
  big.bytes.resize(32u << 20);  // only for st_header's offsets; the file gets a hole instead
  const std::string h = st_header({big, ts[0], ts[1], ts[2], ts[3]});
  big.bytes = {};
  // The header, a 32 MiB hole for the weight, then the four scales.
  write_st_raw(dir / "model.safetensors", h, {});
  ASSERT_EQ(::truncate((dir / "model.safetensors").c_str(), static_cast<off_t>(8 + h.size() + (32u << 20))), 0);
  {
    std::ofstream g(dir / "model.safetensors", std::ios::binary | std::ios::app);
    for (const StEntry& t : {ts[0], ts[1], ts[2], ts[3]}) g.write(reinterpret_cast<const char*>(t.bytes.data()), 4);
  }
  const long long before = bytes_read();
  ASSERT_GE(before, 0) << "/proc/self/io is unreadable";
  const auto r = load_checkpoint(dir.path());
  const long long read = bytes_read() - before;
  ASSERT_TRUE(r.ok()) << format_diagnostic(r.diagnostics[0]);
  EXPECT_EQ(r.table.v_scales(0, 1)[0], v_of(1));
  // config + 8-byte length + header + 4 scales of 4 bytes, and /proc/self/io itself: far below 1 MiB.
  EXPECT_LT(read, 1 << 20) << "read " << read << " bytes";
}

}  // namespace
}  // namespace test
}  // namespace kvscale
