// kvscale roundtrip --calibrate OUT: exit codes, OUT validates (.json and .safetensors), the error
// after calibration is no worse than before on the synthetic data, and OUT is never overwritten
// without --force.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "cli/cli_util.hpp"

namespace {

const std::string kSmall = " --backend cpu --tokens 67 --kv-heads 2 --head-size 64 --block-size 16";

std::string dir_of(const std::string& p) { return p.substr(0, p.rfind('/')); }

TEST(CliCalibrate, JsonOutValidatesAndErrorDoesNotGrow) {
  TempDir t;
  const std::string out = dir_of(t.file("keep", "")) + "/cal.json";
  const CliRun r = run("roundtrip " + sh_quote(k7b) + kSmall + " --json --calibrate " + sh_quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  const nlohmann::json j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  const auto& c = j.at("calibration");
  EXPECT_EQ(c.at("out"), out);
  EXPECT_EQ(c.at("floored"), 0);
  const double before = c.at("rms_rel_err_before").get<double>(), after = c.at("rms_rel_err_after").get<double>();
  EXPECT_GT(after, 0.0);
  EXPECT_LE(after, before);
  EXPECT_LE(c.at("saturated_fraction_after").get<double>(), c.at("saturated_fraction_before").get<double>());
  EXPECT_EQ(j.at("before").at("total").at("rms_rel_err").get<double>(), before);
  EXPECT_EQ(j.at("after").at("total").at("rms_rel_err").get<double>(), after);
  ASSERT_EQ(j.at("after").at("layers").size(), j.at("before").at("layers").size());
  const CliRun v = run("validate " + sh_quote(out));
  EXPECT_EQ(v.exit_code, 0) << v.out;
  // The scales applied after calibration are OUT's, as loaded back.
  const std::vector<float> cal = fixture_values(out);
  ASSERT_EQ(cal.size(), j.at("after").at("layers").size());
  for (std::size_t l = 0; l < cal.size(); ++l)
    EXPECT_EQ(j.at("after").at("layers")[l].at("scale").get<float>(), cal[l]) << l;
}

TEST(CliCalibrate, SafetensorsOutValidatesAndTextReportsBeforeAndAfter) {
  TempDir t;
  const std::string out = dir_of(t.file("keep", "")) + "/cal.safetensors";
  const CliRun r = run("roundtrip " + sh_quote(k7b) + kSmall + " --dtype f32 --calibrate " + sh_quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("calibration: rms rel err "), std::string::npos) << r.out;
  EXPECT_EQ(run("validate " + sh_quote(out)).exit_code, 0);
}

TEST(CliCalibrate, RefusesToOverwriteWithoutForce) {
  TempDir t;
  const std::string out = t.file("cal.json", "precious");
  const CliRun r = run("roundtrip " + sh_quote(k7b) + kSmall + " --calibrate " + sh_quote(out), true);
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find("exists"), std::string::npos) << r.out;
  EXPECT_EQ(read_file(out), "precious");
  const CliRun f = run("roundtrip " + sh_quote(k7b) + kSmall + " --force --calibrate " + sh_quote(out));
  EXPECT_EQ(f.exit_code, 0) << f.out;
  EXPECT_EQ(run("validate " + sh_quote(out)).exit_code, 0);
}

TEST(CliCalibrate, UsageErrors) {
  EXPECT_EQ(run("roundtrip " + sh_quote(k7b) + kSmall + " --calibrate /tmp/x.txt").exit_code, 2);
  EXPECT_EQ(run("roundtrip " + sh_quote(k7b) + kSmall + " --force").exit_code, 2);
}

}  // namespace
