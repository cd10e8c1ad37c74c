// kvscale roundtrip (the main job): exit codes, the --json shape, the per-layer scales it applies,
// determinism, and that on the CPU backend the numbers are those of a real quantize/dequantize.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.hpp"

namespace {

const std::string kSmall = " --backend cpu --tokens 67 --kv-heads 2 --head-size 64 --block-size 16 --json";

nlohmann::json run_json(const std::string& args, int expect_exit = 0) {
  const CliRun r = run("roundtrip " + args);
  EXPECT_EQ(r.exit_code, expect_exit) << args << "\n" << r.out;
  return nlohmann::json::parse(r.out, nullptr, false);
}

TEST(CliRoundtrip, JsonShapeAndScalesOfEveryLayer) {
  const nlohmann::json j = run_json(sh_quote(k7b) + kSmall);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j.at("backend"), "cpu");
  EXPECT_EQ(j.at("format"), "e4m3fn");
  EXPECT_EQ(j.at("dtype"), "bf16");
  EXPECT_EQ(j.at("tokens"), 67);
  const std::vector<float> file = fixture_values(k7b);
  const auto& layers = j.at("layers");
  ASSERT_EQ(layers.size(), file.size());
  for (std::size_t l = 0; l < layers.size(); ++l) {
    SCOPED_TRACE(l);
    EXPECT_EQ(layers[l].at("layer"), static_cast<int>(l));
    EXPECT_EQ(layers[l].at("scale").get<float>(), file[l]);  // %.9g round-trips float32
    // Errors of a 3-bit mantissa with rounding: relative RMS well under 1/8, saturation rare.
    EXPECT_GT(layers[l].at("rms_rel_err").get<double>(), 0.0);
    EXPECT_LT(layers[l].at("rms_rel_err").get<double>(), 0.25);
    EXPECT_LT(layers[l].at("saturated_fraction").get<double>(), 0.01);
    EXPECT_TRUE(layers[l].at("bytes_match").get<bool>());
  }
  EXPECT_TRUE(j.at("total").at("bytes_match").get<bool>());
}

TEST(CliRoundtrip, FnuzCacheUsesTwiceTheFileScale) {
  const nlohmann::json j = run_json(sh_quote(k7b) + kSmall + " --format e4m3fnuz");
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j.at("format"), "e4m3fnuz");
  const std::vector<float> file = fixture_values(k7b);
  for (std::size_t l = 0; l < file.size(); ++l) EXPECT_EQ(j.at("layers")[l].at("scale").get<float>(), 2.0f * file[l]);
}

// The same scale in both formats stores the same real values (fnuz scale = 2 x fn scale), so the
// errors must agree wherever nothing saturates differently: compare the totals loosely.
TEST(CliRoundtrip, SameErrorsInBothFormats) {
  const nlohmann::json fn = run_json(sh_quote(k7b) + kSmall);
  const nlohmann::json fnuz = run_json(sh_quote(k7b) + kSmall + " --format e4m3fnuz");
  ASSERT_FALSE(fn.is_discarded() || fnuz.is_discarded());
  const double a = fn.at("total").at("rms_rel_err"), b = fnuz.at("total").at("rms_rel_err");
  EXPECT_NEAR(a, b, 0.05 * a);
}

TEST(CliRoundtrip, DeterministicPerSeed) {
  const auto errors = [](const nlohmann::json& j) {
    std::vector<double> e;
    for (const auto& l : j.at("layers")) e.push_back(l.at("max_abs_err"));
    return e;
  };
  const nlohmann::json a = run_json(sh_quote(k7b) + kSmall + " --seed 7");
  const nlohmann::json b = run_json(sh_quote(k7b) + kSmall + " --seed 7");
  const nlohmann::json c = run_json(sh_quote(k7b) + kSmall + " --seed 8");
  ASSERT_FALSE(a.is_discarded() || b.is_discarded() || c.is_discarded());
  EXPECT_EQ(errors(a), errors(b));
  EXPECT_NE(errors(a), errors(c));
}

TEST(CliRoundtrip, EveryDtypeAndLayout) {
  for (const std::string dtype : {"f32", "f16", "bf16"}) {
    for (const std::string layout : {"nhd", "hnd"}) {
      const nlohmann::json j = run_json(sh_quote(k7b) + kSmall + " --dtype " + dtype + " --layout " + layout);
      ASSERT_FALSE(j.is_discarded()) << dtype << " " << layout;
      EXPECT_EQ(j.at("dtype"), dtype);
      EXPECT_LT(j.at("total").at("rms_rel_err").get<double>(), 0.25);
    }
  }
}

TEST(CliRoundtrip, HumanOutputNamesTheBackendAndWhy) {
  const CliRun r = run("roundtrip " + sh_quote(k7b) + " --backend cpu --tokens 16 --kv-heads 1 --head-size 16");
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("backend  cpu (requested with --backend cpu)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\ntotal "), std::string::npos) << r.out;
}

TEST(CliRoundtrip, RejectedFileRunsNothing) {
  TempDir t;
  const std::string bad = t.file("bad.json",
                                 "{\"model_type\": null, \"kv_cache\": {\"dtype\": \"fp8\", "
                                 "\"scaling_factor\": {\"0\": {\"0\": 0.5}}}}");
  const CliRun r = run("roundtrip " + sh_quote(bad) + " --backend cpu", true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("dtype_mismatch"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("nothing was run"), std::string::npos) << r.out;
}

TEST(CliRoundtrip, UsageErrorsExit2) {
  for (const std::string& args :
       {std::string("--dtype f64"), std::string("--format e5m2"), std::string("--tokens 0"), std::string("--tp-size 1"),
        std::string("--tp-size 0 --tp-rank 0 --num-layers 32"), std::string("--tp-size 1 --tp-rank -1 --num-layers 32"),
        std::string("--backend tpu"), std::string("a.json b.json"), std::string("--model-type llama"),
        std::string("--tokens 1 --block-size 4096 --kv-heads 1024 --head-size 4096")}) {
    const CliRun r = run("roundtrip " + args, true);
    EXPECT_EQ(r.exit_code, 2) << args << "\n" << r.out;
    EXPECT_NE(r.out.find("usage: kvscale roundtrip"), std::string::npos) << args << "\n" << r.out;
  }
}

}  // namespace
