// KVSCALE_CPU_ISA caps the CPU backend's ISA (read once, at the first backend call). ctest runs
// this test once per value (tests/cpu/CMakeLists.txt), and once more without the variable (the
// plain test_cpu_ops run): then nothing is capped and nothing is printed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "cpu/cpu_test_util.hpp"
#include "kvscale/cpu.hpp"

namespace {

using namespace cputest;

// Quantizes a few values at the current level and compares them with the reference.
void expect_quantize_works() {
  const std::vector<float> in = {0.0f, -1.5f, 3.25f, 1000.0f, 1e-3f, -7.0f, 0.4f, 2.0f, 9.5f};
  std::vector<std::uint8_t> out(in.size());
  const float s = 0.1f;
  kvscale::QuantizeArgs a;
  a.format = Fp8Format::e4m3fn;
  a.dtype = DType::f32;
  a.in = in.data();
  a.out = out.data();
  a.n = in.size();
  a.scale = &s;
  ASSERT_EQ(cpu::quantize(a), kvscale::Status::success);
  for (std::size_t i = 0; i < in.size(); ++i) EXPECT_EQ(out[i], ref::quantize(Fp8Format::e4m3fn, in[i], s));
}

TEST(CpuIsaEnv, CapsTheIsa) {
  const char* env = std::getenv("KVSCALE_CPU_ISA");
  const std::string v = env ? env : "";
  BackendGuard g;
  ::testing::internal::CaptureStderr();  // before the first backend call reads the variable
  const cpu::Isa best = cpu::set_max_isa(cpu::Isa::best);
  const cpu::Isa again = cpu::set_max_isa(cpu::Isa::avx512);
  expect_quantize_works();
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(again, best);  // set_max_isa cannot lift the cap
  const std::string msg = "KVSCALE_CPU_ISA=\"" + v + "\" is not one of scalar, avx2, avx512; ignored";
  if (env == nullptr) {
    EXPECT_EQ(err, "");
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
      EXPECT_NE(best, cpu::Isa::scalar) << "capped without KVSCALE_CPU_ISA";
    }
#endif
  } else if (v == "scalar") {
    EXPECT_EQ(best, cpu::Isa::scalar);
    EXPECT_EQ(err, "");
  } else if (v == "avx2") {
    EXPECT_LE(static_cast<int>(best), static_cast<int>(cpu::Isa::avx2));
    EXPECT_EQ(err, "");
  } else if (v == "avx512") {
    EXPECT_LE(static_cast<int>(best), static_cast<int>(cpu::Isa::avx512));
    EXPECT_EQ(err, "");
  } else {
    // Invalid: one message, then the CPU's best ISA as without the variable.
    const auto at = err.find(msg);
    EXPECT_NE(at, std::string::npos) << err;
    EXPECT_EQ(err.find(msg, at + 1), std::string::npos) << "reported twice: " << err;
    EXPECT_NE(best, cpu::Isa::best);
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx2")) {
      EXPECT_NE(best, cpu::Isa::scalar) << "an invalid value capped the ISA";
    }
#endif
  }
  ::testing::internal::CaptureStderr();
  cpu::set_max_isa(cpu::Isa::best);
  expect_quantize_works();
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "") << "reported more than once";
}

}  // namespace
