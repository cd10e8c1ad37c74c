// kvscale convert: exit codes, refusals (OUT exists without --force, K != V without --merge max),
// the JSON round trip through the CLI, and that no temporary file is left behind.
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"

namespace {

std::vector<std::string> entries(const std::string& dir) {
  std::vector<std::string> out;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (const dirent* e = ::readdir(d))
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) out.push_back(e->d_name);
    ::closedir(d);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string dir_of(const std::string& file) { return file.substr(0, file.rfind('/')); }

TEST(CliConvert, ScalesFileToJsonRoundTripsBitExactly) {
  TempDir t;
  const std::string out = dir_of(t.file("keep", "")) + "/out.json";
  const CliRun r = run("convert " + sh_quote(k7b) + " " + sh_quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("wrote kv_cache_scales.json from scales_file"), std::string::npos) << r.out;
  const CliRun v = run("validate --json " + sh_quote(out));
  ASSERT_EQ(v.exit_code, 0) << v.out;
  const auto j = nlohmann::json::parse(v.out);
  EXPECT_EQ(j["model_type"], "llama");
  const std::vector<float> expect = fixture_values(k7b);
  ASSERT_EQ(j["scales"]["0"].size(), expect.size());
  for (std::size_t l = 0; l < expect.size(); ++l)
    EXPECT_EQ(static_cast<float>(j["scales"]["0"][l].get<double>()), expect[l]) << l;
  EXPECT_EQ(entries(dir_of(out)), (std::vector<std::string>{"keep", "out.json"}));
}

TEST(CliConvert, RefusesToOverwriteWithoutForce) {
  TempDir t;
  const std::string out = t.file("out.json", "precious");
  const CliRun r = run("convert " + sh_quote(k7b) + " " + sh_quote(out), true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("exists"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(out), "precious");
  EXPECT_EQ(entries(dir_of(out)), std::vector<std::string>{"out.json"});
  const CliRun f = run("convert --force " + sh_quote(k7b) + " " + sh_quote(out));
  EXPECT_EQ(f.exit_code, 0) << f.out;
  EXPECT_EQ(run("validate " + sh_quote(out)).exit_code, 0);
  EXPECT_EQ(entries(dir_of(out)), std::vector<std::string>{"out.json"});
}

TEST(CliConvert, RanksThatDifferNeedMergeMaxForSafetensors) {
  TempDir t;
  const std::string src = t.file("two.json",
                                 "{\"model_type\": null, \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", "
                                 "\"scaling_factor\": {\"0\": {\"0\": 0.5}, \"1\": {\"0\": 0.75}}}}");
  const std::string out = dir_of(src) + "/o.safetensors";
  const CliRun r = run("convert " + sh_quote(src) + " " + sh_quote(out), true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("--merge max"), std::string::npos) << r.out;
  EXPECT_EQ(entries(dir_of(src)), std::vector<std::string>{"two.json"});
  const CliRun m = run("convert --merge max " + sh_quote(src) + " " + sh_quote(out));
  EXPECT_EQ(m.exit_code, 0) << m.out;
  const std::string bytes = read_file(out);
  ASSERT_GE(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(bytes.size() - 8), std::string("\x00\x00\x40\x3F\x00\x00\x40\x3F", 8));  // 0.75f twice
  EXPECT_EQ(entries(dir_of(src)), (std::vector<std::string>{"o.safetensors", "two.json"}));
}

TEST(CliConvert, RejectedSourceWritesNothing) {
  TempDir t;
  const std::string src = t.file("bad.json", "[]");
  const CliRun r = run("convert " + sh_quote(src) + " " + sh_quote(dir_of(src) + "/o.json"), true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("not_an_object"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing was written"), std::string::npos) << r.out;
  EXPECT_EQ(entries(dir_of(src)), std::vector<std::string>{"bad.json"});
}

TEST(CliConvert, UsageErrorsExit2) {
  for (const std::string& args :
       {std::string("convert"), std::string("convert a.json"), std::string("convert a.json b.json c.json"),
        std::string("convert a.json b.txt"), std::string("convert --merge min a.json b.json"),
        std::string("convert --bogus a b")}) {
    const CliRun r = run(args, true);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: kvscale convert SRC OUT"), std::string::npos) << args << "\n" << r.out;
  }
}

}  // namespace
