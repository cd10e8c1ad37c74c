// The kvscale CLI (validate, inspect): exit codes, output formats and the --json shape. Runs the real
// binary at KVSCALE_CLI_PATH.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "cli/cli_util.hpp"

namespace {

std::string doc(int ranks, int layers, const std::string& value = "0.015625",
                const std::string& model_type = "\"llama\"") {
  std::ostringstream o;
  o << "{\"model_type\": " << model_type << ", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {";
  for (int r = 0; r < ranks; ++r) {
    o << (r ? ", " : "") << "\"" << r << "\": {";
    for (int l = 0; l < layers; ++l) o << (l ? ", " : "") << "\"" << l << "\": " << value;
    o << "}";
  }
  o << "}}}";
  return o.str();
}

TEST(Cli, VersionAndHelp) {
  const CliRun v = run("--version");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_EQ(v.out.rfind("kvscale ", 0), 0u) << v.out;
  const CliRun h = run("validate --help");
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_EQ(h.out.rfind("usage: kvscale validate FILE", 0), 0u) << h.out;
  const CliRun i = run("inspect --help");
  EXPECT_EQ(i.exit_code, 0);
  EXPECT_EQ(i.out.rfind("usage: kvscale inspect FILE", 0), 0u) << i.out;
}

TEST(Cli, UsageErrorsExit2) {
  for (const std::string& args : std::vector<std::string>{
           "validate", "validate a b", "validate --bogus " + k7b, "validate --tp-size 1 " + k7b,
           "validate --tp-size 1 --tp-rank 0 " + k7b, "validate --tp-size x --tp-rank 0 --num-layers 32 " + k7b,
           "validate --tp-size 99999999999 --tp-rank 0 --num-layers 32 " + k7b, "validate --model-type llama " + k7b,
           "validate --json --json " + k7b, "inspect", "inspect --x " + k7b,
           // A bad value is a usage error in every command that takes a context.
           "validate --tp-size 0 --tp-rank 0 --num-layers 32 " + k7b,
           "validate --tp-size 1 --tp-rank -1 --num-layers 32 " + k7b,
           "validate --tp-size 1 --tp-rank 0 --num-layers 0 " + k7b,
           "inspect --tp-size 0 --tp-rank 0 --num-layers 32 " + k7b, "inspect --tp-size 1 " + k7b,
           "validate --tp-size 0 --tp-rank 0 " + kData, "inspect --tp-size 0 --tp-rank 0 " + kData,
           "validate --tp-size 2 " + kData, "validate --tp-rank 0 " + kData, "validate --num-layers 0 " + kData}) {
    const CliRun r = run(args, true);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: kvscale"), std::string::npos) << args;
  }
}

TEST(Cli, TopLevelHelpComesFromTheCommandTable) {
  const CliRun h = run("--help");
  EXPECT_EQ(h.exit_code, 0);
  for (const std::string line : {"  validate PATH     check a scales file or a checkpoint's K/V scales",
                                 "  inspect PATH      K and V statistics", "  convert SRC OUT   write the scales as",
                                 "  roundtrip [FILE]  quantize synthetic K/V", "  bench             benchmark"})
    EXPECT_NE(h.out.find(line), std::string::npos) << line << "\n" << h.out;
  const CliRun none = run("", true);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.out, h.out);
  const CliRun unknown = run("frobnicate", true);
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_EQ(unknown.out, "kvscale: unknown command 'frobnicate'\n\n" + h.out);
  for (const std::string c : {"validate", "inspect", "convert", "roundtrip", "bench"}) {
    const CliRun ch = run(c + " --help");
    EXPECT_EQ(ch.exit_code, 0) << c;
    EXPECT_EQ(ch.out.rfind("usage: kvscale " + c, 0), 0u) << ch.out;
    EXPECT_EQ(run(c + " -h").out, ch.out) << c;
  }
}

// Cross-checks of a well-formed context are the loader's: exit 1 with its diagnostic.
TEST(Cli, RankOutsideTpSizeIsTheLoadersDiagnostic) {
  const CliRun r = run("validate --json --tp-size 2 --tp-rank 2 --num-layers 32 " + sh_quote(k7b));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_FALSE(j["diagnostics"].empty());
  EXPECT_EQ(j["diagnostics"][0]["code"], "tp_rank_out_of_range");
}

// A directory is a checkpoint: the spec's JSON shape, in the spec's order, also when rejected.
// (Without config.json the real loader says config_invalid; the development stub says
// internal_error. Both reject.)
TEST(Cli, CheckpointJsonShapeWhenRejected) {
  TempDir t;
  const std::string dir = t.file("x", "");
  const std::string ckpt = dir.substr(0, dir.rfind('/'));
  const CliRun r = run("validate --json " + sh_quote(ckpt));
  EXPECT_EQ(r.exit_code, 1) << r.out;
  const auto j = nlohmann::ordered_json::parse(r.out);
  std::vector<std::string> keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"valid", "source", "producer", "model_type", "num_layers", "num_kv_heads",
                                            "tp_size", "tp_rank", "granularity", "k_scales", "v_scales", "diagnostics",
                                            "warnings"}));
  EXPECT_EQ(j["valid"], false);
  EXPECT_EQ(j["source"], "checkpoint");
  EXPECT_TRUE(j["k_scales"].is_object() && j["k_scales"].empty());
  EXPECT_TRUE(j["v_scales"].is_object() && j["v_scales"].empty());
  EXPECT_TRUE(j["granularity"].is_null());
  EXPECT_TRUE(j["tp_size"].is_null() && j["tp_rank"].is_null());
  ASSERT_FALSE(j["diagnostics"].empty());
  for (const auto& d : j["diagnostics"]) EXPECT_TRUE(d["pointer"].is_string() && d["message"].is_string());
  const CliRun ctx = run("validate --json --tp-size 2 --tp-rank 1 " + sh_quote(ckpt));
  EXPECT_EQ(ctx.exit_code, 1) << ctx.out;
  const auto jc = nlohmann::json::parse(ctx.out);
  EXPECT_EQ(jc["tp_size"], 2);
  EXPECT_EQ(jc["tp_rank"], 1);
  const CliRun human = run("validate " + sh_quote(ckpt));
  EXPECT_EQ(human.exit_code, 1);
  EXPECT_EQ(human.out.rfind(ckpt + ":", 0), 0u) << human.out;
  EXPECT_NE(human.out.find(ckpt + ": rejected ("), std::string::npos) << human.out;
  EXPECT_EQ(run("inspect " + sh_quote(ckpt)).exit_code, 1);
}

TEST(Cli, ValidHumanSummary) {
  const std::vector<float> v = fixture_values(k7b);
  ASSERT_EQ(v.size(), 32u);
  float lo = v[0], hi = v[0];
  for (float f : v) lo = std::min(lo, f), hi = std::max(hi, f);
  char expect[512];
  std::snprintf(expect, sizeof expect, "%s: valid: 1 rank x 32 layers, model_type llama, scales min %.9g max %.9g\n",
                k7b.c_str(), static_cast<double>(lo), static_cast<double>(hi));
  const CliRun r = run("validate " + sh_quote(k7b) + " --tp-size 1 --tp-rank 0 --num-layers 32 --model-type llama");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out, expect);
}

TEST(Cli, JsonValidRoundTripsFloat32) {
  for (const auto& [path, layers] : {std::pair<std::string, int>{k7b, 32}, {k70b, 80}}) {
    const CliRun r = run("validate --json " + sh_quote(path));
    ASSERT_EQ(r.exit_code, 0) << r.out;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_object());
    std::vector<std::string> keys;
    const auto ordered = nlohmann::ordered_json::parse(r.out);
    for (auto it = ordered.begin(); it != ordered.end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys, (std::vector<std::string>{"valid", "source", "model_type", "tp_size", "num_layers", "tp_rank",
                                              "scales", "diagnostics", "warnings"}));
    EXPECT_EQ(j["source"], "scales_file");
    EXPECT_TRUE(j["warnings"].is_array() && j["warnings"].empty());
    EXPECT_EQ(j["valid"], true);
    EXPECT_EQ(j["model_type"], "llama");
    EXPECT_EQ(j["tp_size"], 1);
    EXPECT_EQ(j["num_layers"], layers);
    EXPECT_TRUE(j["tp_rank"].is_null());
    EXPECT_TRUE(j["diagnostics"].is_array() && j["diagnostics"].empty());
    ASSERT_EQ(j["scales"].size(), 1u);
    const auto& s = j["scales"]["0"];
    const std::vector<float> expect = fixture_values(path);
    ASSERT_EQ(s.size(), expect.size());
    for (std::size_t l = 0; l < expect.size(); ++l)
      EXPECT_EQ(static_cast<float>(s[l].get<double>()), expect[l]) << "layer " << l;
  }
}

TEST(Cli, JsonRejectedWithContext) {
  const CliRun r = run("validate --json --tp-size 2 --tp-rank 1 --num-layers 32 --model-type mistral " + sh_quote(k7b));
  EXPECT_EQ(r.exit_code, 1);
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["valid"], false);
  EXPECT_TRUE(j["model_type"].is_null());
  EXPECT_EQ(j["tp_size"], 2);
  EXPECT_EQ(j["num_layers"], 32);
  EXPECT_EQ(j["tp_rank"], 1);
  EXPECT_TRUE(j["scales"].is_object() && j["scales"].empty());
  ASSERT_EQ(j["diagnostics"].size(), 2u) << r.out;
  EXPECT_EQ(j["diagnostics"][0]["code"], "model_type_mismatch");
  EXPECT_EQ(j["diagnostics"][0]["pointer"], "/model_type");
  EXPECT_EQ(j["diagnostics"][0]["message"], "expected model_type \"mistral\" (from the context), found \"llama\"");
  EXPECT_EQ(j["diagnostics"][1]["code"], "rank_missing");
}

TEST(Cli, JsonEscapesStrings) {
  TempDir t;
  const std::string mt = "\"q\\\"uo\\\\te\\n\\u0001\xC3\xA4\"";
  const std::string p = t.file("s.json", doc(2, 2, "0.5", mt));
  const CliRun r = run("validate --json " + sh_quote(p));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model_type"], std::string("q\"uo\\te\n\x01\xC3\xA4"));
  EXPECT_EQ(j["scales"]["1"][1], 0.5);
  const CliRun bad =
      run("validate --json " + sh_quote(t.file("b.json", "{\"model_type\": \"x\", \"a\\\"b\": {\"k\": 1, \"k\": 2}}")));
  EXPECT_EQ(bad.exit_code, 1);
  const auto jb = nlohmann::json::parse(bad.out);
  EXPECT_EQ(jb["diagnostics"][0]["pointer"], "/a\"b/k");
}

TEST(Cli, HumanDiagnosticsAndIoErrors) {
  TempDir t;
  const std::string p = t.file("d.json", doc(1, 1).replace(doc(1, 1).find("float8_e4m3fn"), 13, "fp8"));
  const CliRun r = run("validate " + sh_quote(p));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out,
            p +
                ":/kv_cache/dtype: dtype_mismatch: expected \"float8_e4m3fn\", found \"fp8\" (hint: the scales are "
                "calibrated for e4m3fn; the cache format is chosen at load time)\n" +
                p + ": rejected (1 problem)\n");
  const CliRun m = run("validate /nonexistent/kv.json");
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_EQ(m.out,
            "/nonexistent/kv.json:: file_not_found: expected a file, found nothing at this path\n"
            "/nonexistent/kv.json: rejected (1 problem)\n");
  const CliRun jm = run("validate --json /nonexistent/kv.json");
  EXPECT_EQ(jm.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(jm.out)["diagnostics"][0]["code"], "file_not_found");
  const CliRun d = run("validate /tmp");
  EXPECT_EQ(d.exit_code, 1);
  const CliRun e = run("validate --json " + sh_quote(t.file("e.json", "")));
  EXPECT_EQ(e.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(e.out)["diagnostics"][0]["code"], "syntax_error");
}

TEST(Cli, WarningsForUnknownKeys) {
  TempDir t;
  const std::string p = t.file("w.json",
                               "{\"model_type\": null, \"extra\": 1, \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", "
                               "\"scaling_factor\": {\"0\": {\"0\": 1}}}}");
  const CliRun r = run("validate " + sh_quote(p));
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(p + ": warning: unknown key /extra\n"), std::string::npos) << r.out;
}

TEST(Cli, InspectFixtureAndWarnings) {
  const CliRun r = run("inspect --ascii " + sh_quote(k7b));
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("rank 0: 32 layers, min 0.0152239129 max 0.0482352152 median "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("warning"), std::string::npos) << r.out;
  TempDir t;
  // Rank 1 differs from rank 0 at layer 3, which is also an outlier (> 10x median).
  std::string j =
      "{\"model_type\": \"m\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {\"0\": {\"0\": "
      "1, \"1\": 1, \"2\": 1, \"3\": 1}, \"1\": {\"0\": 1, \"1\": 1, \"2\": 1, \"3\": 50}}}, \"zz\": 0}";
  const CliRun w = run("inspect --ascii " + sh_quote(t.file("o.json", j)));
  EXPECT_EQ(w.exit_code, 0);
  EXPECT_NE(w.out.find("  ____\n"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("  ___#\n"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("warning: unknown_key: unknown key /zz\n"), std::string::npos) << w.out;
  EXPECT_NE(w.out.find("warning: scale_outlier: rank 1 layer 3: scale 50 is more than 10x the rank's median 1\n"),
            std::string::npos)
      << w.out;
  EXPECT_NE(w.out.find("warning: ranks_differ: rank 1 differs from rank 0 at 1 of 4 layers\n"), std::string::npos)
      << w.out;
  EXPECT_NE(w.out.find("warning: scales_mostly_one: 7 of 8 scales are exactly 1.0: ModelOpt clamps to >= 1; likely "
                       "uncalibrated\n"),
            std::string::npos)
      << w.out;
  EXPECT_EQ(w.out.find("k_v_far_apart"), std::string::npos) << w.out;  // a scales file has K = V
  const CliRun bad = run("inspect " + sh_quote(t.file("b.json", "[]")));
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.out.find(":: not_an_object: "), std::string::npos) << bad.out;
}

/// Peak RSS (KiB) of `kvscale validate FILE`, measured on the child alone.
long child_peak_rss_kib(const std::string& file) {
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execl(kCli.c_str(), kCli.c_str(), "validate", file.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage ru {};
  if (::wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return -1;
  return ru.ru_maxrss;
}

TEST(Cli, PeakMemoryForA16MiBFileStaysUnder4xFileSize) {
  TempDir t;
  // ~16 MiB of realistic entries: 9 ranks x 60000 layers.
  std::string s;
  s.reserve(17u << 20);
  s = "{\"model_type\": \"llama\", \"kv_cache\": {\"dtype\": \"float8_e4m3fn\", \"scaling_factor\": {";
  for (int r = 0; r < 9; ++r) {
    s += (r ? ", \"" : "\"") + std::to_string(r) + "\": {";
    for (int l = 0; l < 60000; ++l) {
      if (l) s += ", ";
      s += "\"" + std::to_string(l) + "\": 0.0" + std::to_string(152239128947258 + l);
    }
    s += "}";
  }
  s += "}}}";
  ASSERT_LE(s.size(), 16u << 20);
  ASSERT_GE(s.size(), 14u << 20);
  const std::string p = t.file("big.json", s);
  const long file_kib = static_cast<long>(s.size() / 1024);
  // Free the text first: a forked child starts with this process's resident pages.
  s.clear();
  s.shrink_to_fit();
  const long small = child_peak_rss_kib(k7b);
  const long big = child_peak_rss_kib(p);
  ASSERT_GT(small, 0);
  ASSERT_GT(big, 0) << "validate failed on the big file";
  RecordProperty("peak_rss_kib", std::to_string(big));
  std::printf("peak RSS: %ld KiB for a %ld KiB file (baseline %ld KiB)\n", big, file_kib, small);
  EXPECT_LE(big - small, 4 * file_kib);
}

// kvscale bench checks its output path before the sweep, so a bad --json-out costs nothing. (The
// sweep itself is timed, so scripts/bench runs it, not the tests.)

// The whole output is the one error line: no "CPU backend" banner, no "[1/7]" progress, no table,
// so nothing was measured; exit 1 like convert's I/O errors.
TEST(CliBench, UnwritableJsonOutFailsBeforeMeasuring) {
  const CliRun r = run("bench --quick --json-out /nonexistent-kvscale-dir/x.json", true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out,
            "kvscale bench: cannot write /nonexistent-kvscale-dir/x.json: No such file or directory (nothing was "
            "measured)\n");
}

TEST(CliBench, DirectoryAsJsonOutFailsBeforeMeasuring) {
  const CliRun r = run("bench --quick --json-out /", true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_EQ(r.out, "kvscale bench: cannot write /: Is a directory (nothing was measured)\n");
}

// The options the PNG writer had are gone (scripts/plot-bench plots the JSON): a usage error.
TEST(CliBench, PlotOptionsAreGone) {
  for (const std::string opt : {"--plot x.png", "--no-plot"}) {
    const CliRun r = run("bench --quick " + opt, true);
    EXPECT_EQ(r.exit_code, 2) << opt << "\n" << r.out;
    EXPECT_EQ(r.out.find("[1/"), std::string::npos) << r.out;
  }
}

}  // namespace
